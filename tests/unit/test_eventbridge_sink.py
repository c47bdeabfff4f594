"""EventBridgeSink on moto: a rule on the bus to an SQS queue receives the event; refused
entries are sent again, then reported as unavailable (never dropped quietly)."""

import json
from typing import Any

import boto3
import pytest
from moto import mock_aws

from inlet.eventbridge import EventBridgeSink
from inlet.events import Event, EventsUnavailable, event_of
from tests.aws import bus_to_queue, receive_all
from tests.builders import make_document

pytestmark = pytest.mark.unit


def events(count: int) -> list[Event]:
    made = [event_of(make_document()) for _ in range(count)]
    return [e for e in made if e is not None]


def test_a_rule_on_the_bus_delivers_the_event_to_a_queue() -> None:
    with mock_aws():
        client = boto3.client("events", region_name="us-east-1")
        sqs = boto3.client("sqs", region_name="us-east-1")
        queue = bus_to_queue(client, sqs, bus="inlet-test", queue="consumer")
        sent = events(12)  # two requests: at most 10 entries each
        EventBridgeSink(client, "inlet-test").emit(sent)
        got = receive_all(sqs, queue, 12)
    bodies = {json.loads(m["Body"])["detail"]["event_id"]: json.loads(m["Body"]) for m in got}
    assert set(bodies) == {e["detail"]["event_id"] for e in sent}
    for event in sent:
        body = bodies[event["detail"]["event_id"]]
        assert body["source"] == "inlet"
        assert body["detail-type"] == "Message Received"
        assert body["detail"] == event["detail"]


class Refusing:
    """A client whose PutEvents refuses the first entry of each request `times` times."""

    def __init__(self, times: int) -> None:
        self.times = times
        self.requests: list[list[dict[str, Any]]] = []

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.requests.append(Entries)
        refuse = self.times > 0
        self.times -= 1
        results = [
            {"ErrorCode": "ThrottlingException"} if refuse and n == 0 else {"EventId": "x"}
            for n in range(len(Entries))
        ]
        return {"FailedEntryCount": int(refuse), "Entries": results}


def test_only_the_refused_entries_are_sent_again() -> None:
    client = Refusing(times=2)
    sent = events(3)
    EventBridgeSink(client, "b", sleep=lambda _: None).emit(sent)  # type: ignore[arg-type]
    assert [len(r) for r in client.requests] == [3, 1, 1]
    first = json.loads(client.requests[0][0]["Detail"])["event_id"]
    assert json.loads(client.requests[2][0]["Detail"])["event_id"] == first


def test_entries_refused_to_the_end_make_the_step_fail() -> None:
    client = Refusing(times=99)
    sink = EventBridgeSink(client, "b", retries=3, sleep=lambda _: None)  # type: ignore[arg-type]
    with pytest.raises(EventsUnavailable, match="refused 1 events after 4 attempts"):
        sink.emit(events(2))
    assert len(client.requests) == 4
