"""The events of inlet.events: the design's fields from a document, stable across deliveries,
always within EventBridge's size, valid under docs/event.schema.json (whose shared $defs are
the document schema's own, and whose detail fields are Detail's, in order)."""

import json
from pathlib import Path
from typing import Any, get_type_hints

import pytest

from inlet import keys
from inlet.events import MAX_DETAIL_BYTES, Detail, Event, event_of, to_json
from tests.builders import make_document
from tests.corpus import load_schema
from tests.corpus.harness import schema_errors

pytestmark = pytest.mark.unit

SCHEMA: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[2] / "docs" / "event.schema.json").read_text()
)


def assert_valid_event(event: Event) -> None:
    wire = json.loads(to_json(event))
    errors = schema_errors(wire, SCHEMA, SCHEMA)
    assert not errors, "\n".join(errors)


def verdicts() -> dict[str, Any]:
    return {
        "spf": {"result": "pass", "domain": "example.org", "helo_result": "none"},
        "dkim": [{"result": "pass", "domain": "example.org", "selector": "s1"}],
        "dmarc": {"result": "pass", "policy": "reject", "domain": "example.org"},
        "arc": {"result": "none", "chain_length": 0},
        "header": "relay.test; spf=pass; dkim=pass; dmarc=pass; arc=none",
    }


def test_a_parsed_document_gives_message_received_with_the_design_fields() -> None:
    attachment = {
        "index": 1,
        "filename": "a.pdf",
        "content_type": "application/pdf",
        "disposition": "attachment",
        "content_id": None,
        "size": 10,
        "sha256": "0" * 64,
        "key": "attachments/x/1-a.pdf",
    }
    document: Any = make_document(
        cc=("c@example.net",), attachments=[attachment], authentication=verdicts()
    )
    event = event_of(document)
    assert event is not None
    message_id = document["id"]
    detail = event["detail"]
    assert event["id"] == detail["event_id"] == f"{message_id}:received"
    assert (event["source"], event["detail-type"]) == ("inlet", "Message Received")
    assert event["time"] == document["parsed_at"]
    assert detail["envelope"] == {
        "mail_from": "sender@example.org",
        "rcpt_to": ["rcpt@example.com"],
        "client_ip": document["envelope"]["client_ip"],
        "tls": document["envelope"]["tls"],
        "auth_user": document["envelope"]["auth_user"],
    }
    assert detail["attachments"] == [
        {
            "filename": "a.pdf",
            "content_type": "application/pdf",
            "size": 10,
            "key": attachment["key"],
        }
    ]
    assert detail["keys"] == {
        "raw": keys.raw_key(message_id),
        "parsed": keys.parsed_key(message_id),
    }
    assert detail["cc"] == [{"name": "", "address": "c@example.net"}]
    assert detail["authentication"] == verdicts()
    assert (detail["size"], detail["truncated"], detail["version"]) == (1234, False, 1)
    assert not {"text", "html", "headers"} & set(detail)
    assert_valid_event(event)


def test_a_quarantined_document_gives_only_message_quarantined() -> None:
    event = event_of(make_document(status="quarantined"))  # type: ignore[arg-type]
    assert event is not None
    assert event["detail-type"] == "Message Quarantined"
    assert event["detail"]["event_id"].endswith(":quarantined")
    assert event["detail"]["status"] == "quarantined"
    assert_valid_event(event)


def test_a_stored_only_document_gives_no_event_yet() -> None:
    assert event_of(make_document(status="stored")) is None  # type: ignore[arg-type]


def test_the_same_document_gives_the_same_bytes_every_time() -> None:
    document: Any = make_document(authentication=verdicts())
    first, second = event_of(document), event_of(json.loads(json.dumps(document)))
    assert first is not None
    assert second is not None
    assert to_json(first) == to_json(second)


def test_an_event_that_would_pass_eventbridges_cap_is_shortened_and_says_so() -> None:
    many = [f"r{i:05}@example.com" for i in range(6000)]
    attachments = [
        {
            "index": i,
            "filename": f"file-{i:05}.bin",
            "content_type": "application/octet-stream",
            "disposition": "attachment",
            "content_id": None,
            "size": i,
            "sha256": "0" * 64,
            "key": f"attachments/x/{i}-file-{i:05}.bin",
        }
        for i in range(3000)
    ]
    document: Any = make_document(rcpt_to=many, to=many, cc=many, attachments=attachments)
    event = event_of(document)
    assert event is not None
    size = len(json.dumps(event["detail"], ensure_ascii=False, separators=(",", ":")).encode())
    assert size <= MAX_DETAIL_BYTES
    assert event["detail"]["truncated"] is True
    assert 0 < len(event["detail"]["envelope"]["rcpt_to"]) <= len(many)
    assert_valid_event(event)


def test_a_huge_subject_is_cut_rather_than_the_event_refused() -> None:
    event = event_of(make_document(subject="x" * 400_000))  # type: ignore[arg-type]
    assert event is not None
    assert event["detail"]["truncated"] is True
    assert len(event["detail"]["subject"] or "") == 1000
    assert_valid_event(event)


def test_the_schema_names_detail_fields_as_detail_does_in_order() -> None:
    detail = SCHEMA["properties"]["detail"]
    assert list(detail["properties"]) == list(get_type_hints(Detail))
    assert detail["required"] == list(get_type_hints(Detail))
    assert list(SCHEMA["properties"]) == list(get_type_hints(Event))


def test_the_shared_definitions_are_the_document_schemas_own() -> None:
    document_defs = load_schema()["$defs"]
    for name, definition in SCHEMA["$defs"].items():
        assert definition == document_defs[name], name
    envelope = SCHEMA["properties"]["detail"]["properties"]["envelope"]["properties"]
    for name, definition in envelope.items():
        assert definition == document_defs["envelope"]["properties"][name], name
