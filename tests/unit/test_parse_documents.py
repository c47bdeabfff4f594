"""The three kinds of document carry every field; the public surface is exactly what others use."""

import json
from datetime import datetime, timedelta, timezone

import pytest

import inlet.parsing
from inlet import keys
from inlet.errors import PermanentError
from inlet.parsing import (
    PARSER_VERSION,
    ParseError,
    SaveAttachment,
    parse_message,
    quarantine_document,
    stored_document,
)
from inlet.parsing.document import FIELDS
from tests.builders import make_envelope
from tests.corpus import CORPUS, Recorder, assert_valid, load_schema, parse
from tests.corpus.harness import PARSED_AT

pytestmark = pytest.mark.unit


def test_public_names() -> None:
    assert sorted(inlet.parsing.__all__) == [
        "PARSER_VERSION",
        "ParseError",
        "SaveAttachment",
        "parse_message",
        "quarantine_document",
        "stored_document",
    ]
    assert PARSER_VERSION == "2"
    assert issubclass(ParseError, PermanentError)
    recorder: SaveAttachment = Recorder()  # a plain callable satisfies the protocol
    assert callable(recorder)


def test_schema_lists_every_field_in_document_order() -> None:
    schema = load_schema()
    assert schema["required"] == list(FIELDS)
    assert list(schema["properties"]) == list(FIELDS)
    document, _ = parse(CORPUS["nested_mixed"])
    assert list(document) == list(FIELDS)


def test_stored_document_carries_every_field() -> None:
    document = stored_document(make_envelope())
    assert list(document) == list(FIELDS)
    assert document["id"] == make_envelope().id
    assert document["status"] == "stored"
    assert document["envelope"] == make_envelope().to_dict()
    assert document["parser_version"] == PARSER_VERSION
    for name in ("reason", "message_id", "date", "subject", "sender", "in_reply_to"):
        assert document[name] is None
    for name in ("text", "html", "parsed_at"):
        assert document[name] is None
    for name in ("from", "reply_to", "to", "cc", "bcc", "references", "headers"):
        assert document[name] == []
    assert document["attachments"] == document["defects"] == []
    assert_valid(document)
    json.dumps(document)


def test_quarantine_document_carries_every_field() -> None:
    when = datetime(2026, 3, 4, 6, 0, 0, 5000, tzinfo=timezone(timedelta(hours=2)))
    document = quarantine_document(make_envelope(), "unreadable message: RecursionError", when)
    assert list(document) == list(FIELDS)
    assert document["status"] == "quarantined"
    assert document["reason"] == "unreadable message: RecursionError"
    assert document["parsed_at"] == "2026-03-04T04:00:00.005Z"
    assert document["envelope"] == make_envelope().to_dict()
    assert document["from"] == document["attachments"] == document["defects"] == []
    assert document["text"] is None
    assert_valid(document)


def test_documents_do_not_share_lists() -> None:
    first, second = stored_document(make_envelope()), stored_document(make_envelope())
    first["defects"].append("x")
    assert second["defects"] == []


def test_stand_in_envelope_with_extra_fields_is_valid() -> None:
    stand_in = make_envelope(
        mail_from="", rcpt_to=[], tls=None, extra={"envelope_unreadable": True}
    )
    assert_valid(quarantine_document(stand_in, "envelope unreadable", PARSED_AT))


def test_a_parse_error_quarantines_with_its_reason() -> None:
    raw = b"".join(
        b"Content-Type: message/rfc822\r\n\r\n" for _ in range(2000)
    )  # messages inside messages, without end
    with pytest.raises(ParseError) as caught:
        parse_message([raw], make_envelope(), save_attachment=Recorder(), parsed_at=PARSED_AT)
    document = quarantine_document(make_envelope(), str(caught.value), PARSED_AT)
    assert document["reason"].startswith("unreadable message: RecursionError")
    assert_valid(document)


def test_naive_parsed_at_is_taken_as_utc() -> None:
    document = parse_message(
        [CORPUS["simple_text"]],
        make_envelope(),
        save_attachment=Recorder(),
        parsed_at=datetime(2026, 3, 4, 5, 6, 7),  # naive on purpose
    )
    assert document["parsed_at"] == "2026-03-04T05:06:07.000Z"


def test_attachment_key_layout() -> None:
    message_id = make_envelope().id
    assert keys.attachment_key(message_id, 3, "report.pdf") == (
        f"attachments/{message_id}/3-report.pdf"
    )
    assert keys.attachment_key(message_id, 0, "x").startswith(keys.ATTACHMENTS_PREFIX)
