"""The webhook function under moto, POSTing to a real HTTP receiver on 127.0.0.1: events put on a
bus reach its queue through a rule (as the CDK app wires them), are delivered signed with the
key from Secrets Manager, and a failure is retried after the schedule's delay (the message's
visibility), until the last attempt, which is given up to the DLQ and counted."""

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters

from functions.webhook.handler import lambda_handler as webhook_handler
from functions.webhook.target import target
from inlet.errors import ConfigError
from inlet.eventbridge import EventBridgeSink
from inlet.events import Event, event_of
from inlet.webhook.schedule import attempts_within
from inlet.webhook.signature import verify
from tests.aws import REGION, Aws, FakeContext, bus_to_queue, counted, deliver, emf, lambda_event
from tests.builders import make_document
from tests.webhook.receiver import Script, receiver

pytestmark = pytest.mark.unit

KEY = "whsec-0123456789abcdef0123456789abcdef"


@dataclass
class Hook:
    script: Script
    url: str
    queue: str
    sink: EventBridgeSink
    sqs: Any


@pytest.fixture
def hook(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Iterator[Hook]:
    """Bus → rule → webhook queue (with its DLQ) → the function, configured by INLET_*."""
    events = boto3.client("events", region_name=REGION)
    secrets = boto3.client("secretsmanager", region_name=REGION)
    arn = secrets.create_secret(Name="inlet-webhook", SecretString=KEY)["ARN"]
    dlq = aws.sqs.create_queue(QueueName="webhook-dlq")["QueueUrl"]
    dlq_arn = aws.sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])
    redrive = {
        "deadLetterTargetArn": dlq_arn["Attributes"]["QueueArn"],
        "maxReceiveCount": str(attempts_within(30)),
    }
    queue = bus_to_queue(events, aws.sqs, bus="inlet-hook", queue="webhook", redrive=redrive)
    script = Script()
    with receiver(script) as url:
        monkeypatch.setenv("INLET_WEBHOOK_URL", url)
        monkeypatch.setenv("INLET_WEBHOOK_SECRET_ARN", arn)
        target.cache_clear()
        parameters.clear_caches()
        try:
            yield Hook(script, url, queue, EventBridgeSink(events, "inlet-hook"), aws.sqs)
        finally:
            target.cache_clear()
            parameters.clear_caches()


def emitted(hook: Hook, status: str = "parsed") -> Event:
    event = event_of(make_document(status=status))
    assert event is not None
    hook.sink.emit([event])
    return event


def test_an_event_on_the_bus_is_delivered_signed_in_inlets_shape(
    hook: Hook, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    events = [emitted(hook), emitted(hook, "quarantined")]
    responses = deliver(hook.sqs, hook.queue, webhook_handler)
    assert [f for r in responses for f in r["batchItemFailures"]] == []
    assert len(hook.script.requests) == 2
    by_id = {r.headers["Inlet-Event-Id"]: r for r in hook.script.requests}
    for event in events:
        request = by_id[event["detail"]["event_id"]]
        assert verify(KEY, request.body, request.headers["Inlet-Signature"], now=time.time())
        body = json.loads(request.body)
        # As `inlet up` sends it: id is the stable event id, not EventBridge's.
        assert body["id"] == event["detail"]["event_id"]
        assert (body["source"], body["detail-type"]) == ("inlet", event["detail-type"])
        assert body["detail"] == event["detail"]
        assert request.headers["Content-Type"] == "application/json"
    assert counted(emf(capsys.readouterr().out), "WebhooksDelivered") == 2
    logged = " ".join(str(r.__dict__) for r in caplog.records)
    assert "webhook delivered" in logged
    assert KEY not in logged  # nor the URL path, which may carry a token
    assert "/hooks/inlet" not in logged
    assert "Messages" not in hook.sqs.receive_message(QueueUrl=hook.queue)


def test_a_failed_delivery_waits_its_delay_then_is_retried(
    hook: Hook, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INLET_WEBHOOK_RETRY_SECONDS", "2")
    target.cache_clear()
    hook.script.statuses = [503, 204]
    event = emitted(hook)
    [response] = deliver(hook.sqs, hook.queue, webhook_handler)
    assert len(response["batchItemFailures"]) == 1
    # Invisible for the first retry delay (2 s), not at once as the queue would make it.
    assert "Messages" not in hook.sqs.receive_message(QueueUrl=hook.queue)
    time.sleep(2.5)
    [again] = deliver(hook.sqs, hook.queue, webhook_handler)
    assert again["batchItemFailures"] == []
    first, second = hook.script.requests
    assert second.at - first.at >= 2.0
    assert first.body == second.body
    assert json.loads(second.body)["id"] == event["detail"]["event_id"]


def test_the_last_attempt_gives_up_to_the_dlq_and_counts_it(
    hook: Hook, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    hook.script.statuses = [500]
    emitted(hook)
    got = hook.sqs.receive_message(QueueUrl=hook.queue, AttributeNames=["All"])["Messages"]
    event = lambda_event(hook.sqs, hook.queue, got)
    # What Lambda passes on the queue's last receive before SQS moves it to the DLQ.
    event["Records"][0]["attributes"]["ApproximateReceiveCount"] = str(attempts_within(30))
    capsys.readouterr()
    response = webhook_handler(event, FakeContext())
    assert len(response["batchItemFailures"]) == 1
    assert "webhook gave up: to the DLQ" in caplog.text
    assert counted(emf(capsys.readouterr().out), "WebhooksFailed") == 1


def test_what_is_not_an_inlet_event_is_dropped_not_retried(hook: Hook) -> None:
    hook.sqs.send_message(QueueUrl=hook.queue, MessageBody=json.dumps({"source": "aws.s3"}))
    hook.sqs.send_message(QueueUrl=hook.queue, MessageBody="not json")
    responses = deliver(hook.sqs, hook.queue, webhook_handler)
    assert [f for r in responses for f in r["batchItemFailures"]] == []
    assert hook.script.requests == []


def test_a_missing_key_fails_the_invocation_not_each_record_quietly(
    hook: Hook, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = boto3.client("secretsmanager", region_name=REGION)
    empty = secrets.create_secret(Name="inlet-webhook-empty", SecretString=" ")["ARN"]
    monkeypatch.setenv("INLET_WEBHOOK_SECRET_ARN", empty)
    target.cache_clear()
    emitted(hook)
    got = hook.sqs.receive_message(QueueUrl=hook.queue, AttributeNames=["All"])["Messages"]
    with pytest.raises(ConfigError, match="the webhook secret is empty"):
        webhook_handler(lambda_event(hook.sqs, hook.queue, got), FakeContext())
    monkeypatch.delenv("INLET_WEBHOOK_URL")
    target.cache_clear()
    with pytest.raises(ConfigError, match=r"SECRET_ARN .* is set but INLET_WEBHOOK_URL"):
        webhook_handler(lambda_event(hook.sqs, hook.queue, got), FakeContext())
    monkeypatch.delenv("INLET_WEBHOOK_SECRET_ARN")
    target.cache_clear()
    with pytest.raises(ConfigError, match="INLET_WEBHOOK_URL and INLET_WEBHOOK_SECRET_ARN"):
        webhook_handler(lambda_event(hook.sqs, hook.queue, got), FakeContext())
    assert hook.script.requests == []
