"""The index function publishes each message's event to the bus INLET_EVENT_BUS names (moto: a
rule on that bus to an SQS queue receives it), and a bus that refuses fails the record, counted
as EventsFailed, so SQS delivers it again instead of the event being lost."""

import json

import boto3
import pytest

from functions.index.handler import lambda_handler as index_handler
from functions.parse.handler import lambda_handler as parse_handler
from inlet import keys
from inlet.events import event_of
from tests.aws import REGION, Aws, bus_to_queue, counted, deliver, emf, receive_all
from tests.stored import store_message

pytestmark = pytest.mark.unit

MESSAGE = (
    b"From: Alice <alice@example.org>\r\nTo: Bob <bob@example.com>\r\n"
    b"Subject: events\r\nMessage-ID: <ev1@example.org>\r\n\r\nhello\r\n"
)


def test_each_indexed_message_is_published_with_its_event(
    aws: Aws, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    events = boto3.client("events", region_name=REGION)
    consumer = bus_to_queue(events, aws.sqs, bus="inlet-fn", queue="consumer")
    monkeypatch.setenv("INLET_EVENT_BUS", "inlet-fn")
    stored = [store_message(aws.store, MESSAGE) for _ in range(3)]
    deliver(aws.sqs, aws.wiring.parse_queue, parse_handler)
    capsys.readouterr()
    indexed = deliver(aws.sqs, aws.wiring.index_queue, index_handler)
    assert [f for r in indexed for f in r["batchItemFailures"]] == []
    assert counted(emf(capsys.readouterr().out), "EventsPublished") == 3
    got = receive_all(aws.sqs, consumer, 3)
    by_id = {json.loads(m["Body"])["detail"]["id"]: json.loads(m["Body"]) for m in got}
    assert set(by_id) == {e.id for e in stored}
    for envelope in stored:
        document = json.loads(aws.store.get(keys.parsed_key(envelope.id)).data)
        expected = event_of(document)
        assert expected is not None
        delivered = by_id[envelope.id]
        assert delivered["source"] == "inlet"
        assert delivered["detail-type"] == "Message Received"
        assert delivered["detail"] == expected["detail"]
        assert delivered["detail"]["event_id"] == f"{envelope.id}:received"


def test_a_bus_that_refuses_fails_the_record_and_counts_it(
    aws: Aws, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("INLET_EVENT_BUS", "no-such-bus")  # PutEvents: ResourceNotFound
    envelope = store_message(aws.store, MESSAGE)
    deliver(aws.sqs, aws.wiring.parse_queue, parse_handler)
    capsys.readouterr()
    [response] = deliver(aws.sqs, aws.wiring.index_queue, index_handler, rounds=1)
    assert len(response["batchItemFailures"]) == 1
    documents = emf(capsys.readouterr().out)
    assert counted(documents, "EventsFailed") == 1
    assert counted(documents, "EventsPublished") == 0
    # The record stays on the queue for the next delivery (and, after the last, the DLQ).
    again = aws.sqs.receive_message(QueueUrl=aws.wiring.index_queue, AttributeNames=["All"])
    [message] = again["Messages"]
    assert envelope.id in message["Body"]  # the key, URL-encoded
    assert int(message["Attributes"]["ApproximateReceiveCount"]) == 2
