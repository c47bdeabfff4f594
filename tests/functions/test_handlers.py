"""The Lambda handlers under moto: real S3 notifications into SQS, events built from what SQS
returns, partial batch failures, redelivery, quarantine and retention."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from functions.environment import environment
from functions.index.handler import lambda_handler as index_handler
from functions.parse.handler import lambda_handler as parse_handler
from functions.retention.handler import RetentionIncomplete
from functions.retention.handler import lambda_handler as retention_handler
from inlet import keys
from tests.aws import Aws, FakeContext, deliver, emf, lambda_event
from tests.faults import Fault
from tests.stored import store_message

pytestmark = pytest.mark.unit

MESSAGE = (
    b"From: Alice <alice@example.org>\r\nTo: Bob <bob@example.com>\r\n"
    b"Subject: =?utf-8?q?caf=C3=A9?=\r\nMessage-ID: <m1@example.org>\r\n"
    b"Date: Mon, 23 Nov 2026 10:00:00 +0100\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
    b"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhello\r\n"
    b"--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; "
    b'filename="r.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--b--\r\n'
)


def run_pipeline(aws: Aws) -> tuple[list[Any], list[Any]]:
    parsed = deliver(aws.sqs, aws.wiring.parse_queue, parse_handler)
    indexed = deliver(aws.sqs, aws.wiring.index_queue, index_handler)
    return parsed, indexed


def failures(responses: list[Any]) -> list[str]:
    return [f["itemIdentifier"] for r in responses for f in r["batchItemFailures"]]


def test_stored_message_is_parsed_then_searchable(aws: Aws) -> None:
    envelope = store_message(aws.store, MESSAGE, rcpt_to=["bob@example.com"])
    many = store_message(aws.store, MESSAGE, rcpt_to=[f"r{i}@example.com" for i in range(90)])
    parsed, indexed = run_pipeline(aws)
    assert failures(parsed) == failures(indexed) == []
    document = json.loads(aws.store.get(keys.parsed_key(envelope.id)).data)
    assert document["status"] == "parsed"
    assert document["subject"] == "café"
    assert document["envelope"]["rcpt_to"] == ["bob@example.com"]
    [attachment] = document["attachments"]
    assert aws.store.get(attachment["key"]).data == b"%PDF-"
    hits = aws.index.search("to", "bob@example.com").entries
    assert {e.id for e in hits} == {envelope.id, many.id}  # header To matches both
    assert [e.id for e in aws.index.search("to", "r89@EXAMPLE.com").entries] == [many.id]
    assert [e.id for e in aws.index.search("message_id", "m1@example.org").entries] == [
        many.id,
        envelope.id,
    ]


def test_redelivered_events_change_nothing(aws: Aws) -> None:
    envelope = store_message(aws.store, MESSAGE)
    messages = aws.sqs.receive_message(
        QueueUrl=aws.wiring.parse_queue, MaxNumberOfMessages=10, VisibilityTimeout=0
    )["Messages"]
    event = lambda_event(aws.sqs, aws.wiring.parse_queue, messages)
    assert parse_handler(event, FakeContext())["batchItemFailures"] == []
    first = aws.store.get(keys.parsed_key(envelope.id)).data
    objects = sorted(o["Key"] for o in aws.s3.list_objects_v2(Bucket=aws.wiring.bucket)["Contents"])
    assert parse_handler(event, FakeContext())["batchItemFailures"] == []
    again = sorted(o["Key"] for o in aws.s3.list_objects_v2(Bucket=aws.wiring.bucket)["Contents"])
    assert again == objects
    assert (
        json.loads(aws.store.get(keys.parsed_key(envelope.id)).data)["attachments"]
        == (json.loads(first)["attachments"])
    )
    run_pipeline(aws)
    deliver(aws.sqs, aws.wiring.index_queue, index_handler)
    assert [e.id for e in aws.index.search("from", "alice@example.org").entries] == [envelope.id]


def test_storage_fault_fails_only_that_record_then_redelivery_succeeds(aws: Aws) -> None:
    good = store_message(aws.store, MESSAGE)
    bad = store_message(aws.store, MESSAGE)
    bad_key = keys.parsed_key(bad.id)
    session = boto3.DEFAULT_SESSION
    assert session is not None

    respond = Fault("SlowDown", status=503, path=lambda path: path.endswith(bad_key))

    # On the session, before the handler's cold start creates its client from it.
    session.events.register("before-call.s3.PutObject", respond, unique_id="fault")
    try:
        responses = deliver(aws.sqs, aws.wiring.parse_queue, parse_handler, rounds=1)
    finally:
        session.events.unregister("before-call.s3.PutObject", unique_id="fault")
        environment.cache_clear()  # the faulty client goes with its cold start
    assert len(failures(responses)) == 1  # the other records of the batch went through
    assert json.loads(aws.store.get(keys.parsed_key(good.id)).data)["status"] == "parsed"
    assert not list(aws.store.list(bad_key))
    parsed, _ = run_pipeline(aws)  # the redelivery
    assert failures(parsed) == []
    assert json.loads(aws.store.get(bad_key).data)["status"] == "parsed"


def test_unreadable_envelope_is_quarantined_and_still_findable(aws: Aws) -> None:
    envelope = store_message(aws.store, MESSAGE)
    raw = aws.store.get(keys.raw_key(envelope.id)).data
    aws.store.put(keys.raw_key(envelope.id), raw, metadata={"inlet-envelope": "{not json"})
    parsed, indexed = run_pipeline(aws)
    assert failures(parsed) == failures(indexed) == []
    record = json.loads(aws.store.get(keys.quarantine_key(envelope.id)).data)
    assert record["status"] == "quarantined"
    assert "envelope" in record["reason"]
    assert aws.store.get(keys.raw_key(envelope.id)).data == raw  # kept for a later look
    entry = aws.index.get(envelope.id)
    assert entry is not None
    assert entry.status == "quarantined"


def test_events_for_objects_already_gone_or_not_ours_are_dropped(aws: Aws) -> None:
    envelope = store_message(aws.store, MESSAGE)
    aws.store.delete(keys.raw_key(envelope.id))
    aws.store.put("raw/not-an-id.eml", b"x")
    parsed = deliver(aws.sqs, aws.wiring.parse_queue, parse_handler)
    assert failures(parsed) == []
    assert not list(aws.store.list(keys.PARSED_PREFIX))


def test_retention_removes_expired_keeps_held_and_reports(
    aws: Aws, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("INLET_RETENTION_DAYS", "30")
    old = datetime.now(UTC) - timedelta(days=40)
    expired = store_message(aws.store, MESSAGE, at=old)
    held = store_message(aws.store, MESSAGE, at=old)
    fresh = store_message(aws.store, MESSAGE)
    run_pipeline(aws)
    aws.index.hold(held.id)
    capsys.readouterr()
    report = retention_handler({"dry_run": True}, FakeContext())
    assert (report["expired"], report["held"]) == (1, 1)
    assert aws.index.get(expired.id) is not None
    report = retention_handler({}, FakeContext())
    assert (report["expired"], report["held"], report["failed"]) == (1, 1, 0)
    documents = emf(capsys.readouterr().out)
    assert any(
        m.get("MessagesExpired") == [1.0] or m.get("MessagesExpired") == 1 for m in documents
    )
    left = {k.split("/")[0] for k in aws.store.list("")}
    assert left == {"raw", "parsed", "attachments"}
    assert aws.index.get(expired.id) is None
    assert not list(aws.store.list(f"attachments/{expired.id}/"))
    for kept in (held, fresh):
        assert aws.index.get(kept.id) is not None
    assert retention_handler({}, FakeContext())["expired"] == 0  # nothing left to do


def test_retention_failure_is_an_error_and_a_rerun_finishes(aws: Aws) -> None:
    old = datetime.now(UTC) - timedelta(days=400)
    doomed = store_message(aws.store, MESSAGE, at=old)
    run_pipeline(aws)
    session = boto3.DEFAULT_SESSION
    assert session is not None

    respond = Fault("InternalError", path=lambda path: "/raw/" in path)

    session.events.register("before-call.s3.DeleteObject", respond, unique_id="fault")
    environment.cache_clear()  # the next cold start builds its client with the fault
    try:
        with pytest.raises(RetentionIncomplete):
            retention_handler({}, FakeContext())
    finally:
        session.events.unregister("before-call.s3.DeleteObject", unique_id="fault")
        environment.cache_clear()
    assert aws.index.get(doomed.id) is None  # part of it went before the fault
    assert retention_handler({}, FakeContext())["expired"] == 1
    assert list(aws.store.list("")) == []
