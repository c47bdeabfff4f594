"""Events on the deployed bus: a rule on `inlet-staging` (as a consumer attaches one) to an SQS
queue receives the event of a message sent over SMTP, published by the deployed index function;
`inlet replay` with the env file puts the same event on the bus again."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from inlet import keys
from inlet.events import event_of
from inlet.message_store import MessageStore
from tests.aws import rule_to_queue
from tests.localstack.conftest import Deployment
from tests.localstack.test_pipeline import DOMAIN, function_failures, send, show_json

pytestmark = [pytest.mark.localstack, pytest.mark.timeout(600)]
EVENT_WITHIN_SECONDS = 90.0


@pytest.fixture(scope="module")
def consumer(deployment: Deployment) -> Iterator[str]:
    """A queue behind a rule on the deployed bus, matching every Inlet event."""
    sqs, events = deployment.client("sqs"), deployment.client("events")
    bus = deployment.tier.event_bus
    url = rule_to_queue(events, sqs, bus=bus, queue="tier-consumer")
    try:
        yield url
    finally:
        events.remove_targets(Rule="tier-consumer", EventBusName=bus, Ids=["queue"])
        events.delete_rule(Name="tier-consumer", EventBusName=bus)
        sqs.delete_queue(QueueUrl=url)


def events_of(deployment: Deployment, queue: str, message_id: str, count: int) -> list[Any]:
    """The first `count` events for `message_id` the queue receives (others are left alone)."""
    sqs = deployment.client("sqs")
    found: list[Any] = []
    deadline = time.monotonic() + EVENT_WITHIN_SECONDS
    while time.monotonic() < deadline and len(found) < count:
        for m in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        ):
            body = json.loads(m["Body"])
            if body.get("detail", {}).get("id") == message_id:
                found.append(body)
                sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])
    assert len(found) >= count, (
        f"{len(found)} of {count} events for {message_id} in {EVENT_WITHIN_SECONDS:.0f} s; "
        f"what the functions logged of failures:\n{function_failures(deployment)}"
    )
    return found


def test_a_rule_on_the_bus_receives_the_event_of_a_message_sent_over_smtp(
    deployment: Deployment, relay_port: int, consumer: str, messages: MessageStore
) -> None:
    raw = (
        b"From: Carol <carol@example.org>\r\nTo: dave@staging.example.com\r\n"
        b"Subject: an event from the tier\r\nMessage-ID: <event.1@example.org>\r\n\r\nHi.\r\n"
    )
    message_id = send(relay_port, raw, [f"dave@{DOMAIN}"], mail_from="carol@example.org")
    [event] = events_of(deployment, consumer, message_id, 1)
    assert event["source"] == "inlet"
    assert event["detail-type"] == "Message Received"
    detail = event["detail"]
    assert detail["event_id"] == f"{message_id}:received"
    assert detail["envelope"]["mail_from"] == "carol@example.org"
    assert detail["envelope"]["rcpt_to"] == [f"dave@{DOMAIN}"]
    assert detail["subject"] == "an event from the tier"
    # The keys lead to the stored objects: the raw message, byte for byte, and the document.
    assert detail["keys"] == {
        "raw": keys.raw_key(message_id),
        "parsed": keys.parsed_key(message_id),
    }
    assert messages.blobs.get(detail["keys"]["raw"]).data.endswith(b"\r\n" + raw)
    # The same event `inlet up` would send for this document.
    expected = event_of(show_json(deployment, message_id))  # type: ignore[arg-type]
    assert expected is not None
    assert detail == expected["detail"]

    # `inlet replay` with the env file puts it on the bus again, with the same event id.
    done = deployment.inlet("replay", "--id", message_id)
    assert f"replayed {message_id}" in done.stdout
    assert "replayed 1 events" in done.stdout
    [again] = events_of(deployment, consumer, message_id, 1)
    assert again["detail"] == detail
    assert again["id"] != event["id"]  # EventBridge's own id; consumers dedupe on event_id
