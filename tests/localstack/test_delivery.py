"""How the deployed pipeline delivers: its event source mappings, queues, DLQ and schedule, as
deployed from the templates; and `inlet verify` against the deployment.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from subprocess import CompletedProcess
from typing import Any

import pytest

from inlet import keys
from inlet.message_store import MessageStore
from tests.localstack.conftest import Deployment
from tests.localstack.test_pipeline import DOMAIN, send, wait_searchable
from tests.stored import store_message

pytestmark = [pytest.mark.localstack, pytest.mark.timeout(600)]
QUIET_SECONDS = 3.0


def function_name(deployment: Deployment, logical_prefix: str) -> str:
    """The physical name of a deployed Lambda, by the start of its logical ID."""
    cloudformation = deployment.client("cloudformation")
    stack = next(name for name in deployment.templates if name.endswith("-Pipeline"))
    for resource in cloudformation.list_stack_resources(StackName=stack)["StackResourceSummaries"]:
        if (
            resource["LogicalResourceId"].startswith(logical_prefix)
            and resource["ResourceType"] == "AWS::Lambda::Function"
        ):
            return str(resource["PhysicalResourceId"])
    raise AssertionError(f"no function {logical_prefix}* in {stack}")


@contextmanager
def parse_mapping_disabled(deployment: Deployment) -> Iterator[None]:
    """The parse function's event source mapping off: notifications wait in the queue."""
    lambda_ = deployment.client("lambda")
    parse = function_name(deployment, "FunctionsParse")
    [mapping] = lambda_.list_event_source_mappings(FunctionName=parse)["EventSourceMappings"]

    def set_state(enabled: bool, state: str) -> None:
        lambda_.update_event_source_mapping(UUID=mapping["UUID"], Enabled=enabled)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if lambda_.get_event_source_mapping(UUID=mapping["UUID"])["State"] == state:
                return
            time.sleep(0.2)
        raise AssertionError(f"event source mapping not {state} after 30 s")

    set_state(False, "Disabled")
    # A receive the poller had in flight (it waits up to the deployed batching window, 1 s)
    # still delivers after the state says Disabled.
    time.sleep(3)
    try:
        yield
    finally:
        set_state(True, "Enabled")


def queues_quiet(deployment: Deployment) -> None:
    """Wait until the parse and index queues hold nothing, visible or in flight, for a while."""
    sqs = deployment.client("sqs")
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    quiet_since: float | None = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        busy = sum(
            int(v)
            for url in (deployment.tier.parse_queue, deployment.tier.index_queue)
            for v in sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)[
                "Attributes"
            ].values()
        )
        if busy:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= QUIET_SECONDS:
            return
        time.sleep(0.2)
    raise AssertionError("the queues did not drain in 60 s")


def index_items(deployment: Deployment, message_id: str) -> list[dict[str, Any]]:
    dynamodb = deployment.client("dynamodb")
    items: list[dict[str, Any]] = []
    for page in dynamodb.get_paginator("scan").paginate(TableName=deployment.tier.table):
        items += [
            i for i in page["Items"] if message_id in (i["sk"]["S"], i["pk"]["S"][len("MSG#") :])
        ]
    return items


def test_the_same_notification_delivered_twice_gives_one_document_and_one_set_of_items(
    deployment: Deployment, relay_port: int, messages: MessageStore
) -> None:
    mail = EmailMessage()
    mail["From"] = "twice@example.org"
    mail["To"] = f"twice@{DOMAIN}"
    mail["Subject"] = "delivered twice"
    mail["Message-ID"] = "<twice.1@example.org>"
    mail.set_content("Two attachments.\n")
    mail.add_attachment(b"first", maintype="application", subtype="octet-stream", filename="a.bin")
    mail.add_attachment(b"second", maintype="text", subtype="plain", filename="b.txt")
    raw = mail.as_bytes()
    sqs = deployment.client("sqs")
    with parse_mapping_disabled(deployment):
        message_id = send(relay_port, raw, [f"twice@{DOMAIN}"])
        # The notification S3 sent for this message, as the parse function would receive it.
        notification = None
        deadline = time.monotonic() + 30
        while notification is None and time.monotonic() < deadline:
            for received in sqs.receive_message(
                QueueUrl=deployment.tier.parse_queue, MaxNumberOfMessages=10, WaitTimeSeconds=1
            ).get("Messages", []):
                if keys.raw_key(message_id) in received["Body"]:
                    notification = received
        assert notification is not None, "no notification for the stored message"
        # At-least-once: SQS may hand the same S3 notification over twice.
        for _ in range(2):
            sqs.send_message(QueueUrl=deployment.tier.parse_queue, MessageBody=notification["Body"])
        sqs.delete_message(
            QueueUrl=deployment.tier.parse_queue, ReceiptHandle=notification["ReceiptHandle"]
        )
    wait_searchable(deployment, message_id, "--to", f"twice@{DOMAIN}")
    queues_quiet(deployment)

    s3 = deployment.client("s3")
    bucket = deployment.tier.bucket
    parsed = [k for k in messages.blobs.list(keys.PARSED_PREFIX) if message_id in k]
    assert len(parsed) == 1
    document = messages.load_document(message_id)
    assert document is not None
    assert len(document["attachments"]) == 2
    stored = s3.list_objects_v2(Bucket=bucket, Prefix=keys.attachments_prefix(message_id))
    assert sorted(o["Key"] for o in stored.get("Contents", [])) == sorted(
        a["key"] for a in document["attachments"]
    )
    items = index_items(deployment, message_id)
    [entry] = [i for i in items if i["sk"]["S"] == "MSG"]
    lookups = entry["lookups"]["SS"] if "SS" in entry["lookups"] else entry["lookups"]["L"]
    assert len(items) == 1 + len(lookups)


def test_a_record_the_parse_function_keeps_failing_on_reaches_the_parse_dlq(
    deployment: Deployment,
) -> None:
    sqs = deployment.client("sqs")
    queue = deployment.tier.parse_queue
    before = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["VisibilityTimeout"])
    # Shortened after deploy so that five failed receives take seconds, not five times the
    # deployed timeout (which is sized from the parse function's own timeout).
    sqs.set_queue_attributes(QueueUrl=queue, Attributes={"VisibilityTimeout": "1"})
    # A long poll the mapping started before the change (it waits up to the 1 s batching
    # window) hides what it receives for the old timeout: send only once it has returned.
    time.sleep(3)
    try:
        body = "this is not an S3 notification {"
        sqs.send_message(QueueUrl=queue, MessageBody=body)
        found = None
        deadline = time.monotonic() + 90
        while found is None and time.monotonic() < deadline:
            for received in sqs.receive_message(
                QueueUrl=deployment.tier.parse_dlq, MaxNumberOfMessages=10, WaitTimeSeconds=1
            ).get("Messages", []):
                if received["Body"] == body:
                    found = received
        assert found is not None, "the failing record never reached the parse DLQ"
    finally:
        sqs.set_queue_attributes(QueueUrl=queue, Attributes=before["Attributes"])


def test_retention_run_as_the_deployed_schedule_runs_it_keeps_a_held_message(
    deployment: Deployment, messages: MessageStore
) -> None:
    old = datetime.now(UTC) - timedelta(days=40)
    kept = store_message(
        messages, b"Subject: held\r\n\r\nkeep me\r\n", rcpt_to=[f"k@{DOMAIN}"], at=old
    )
    gone = store_message(
        messages, b"Subject: old\r\n\r\nexpire me\r\n", rcpt_to=[f"g@{DOMAIN}"], at=old
    )
    short = store_message(
        messages,
        b"Subject: short\r\n\r\n7 days here\r\n",
        rcpt_to=[f"t@tmp.{DOMAIN}"],
        at=datetime.now(UTC) - timedelta(days=10),
    )
    for envelope in (kept, gone, short):
        wait_searchable(
            deployment, envelope.id, "--to", envelope.rcpt_to[0], "--since", "2000-01-01T00:00:00Z"
        )
    deployment.inlet("hold", kept.id)

    events = deployment.client("events")
    retention = function_name(deployment, "FunctionsRetention")
    arn = deployment.client("lambda").get_function(FunctionName=retention)["Configuration"][
        "FunctionArn"
    ]
    [rule] = events.list_rule_names_by_target(TargetArn=arn)["RuleNames"]
    [target] = events.list_targets_by_rule(Rule=rule)["Targets"]
    assert events.describe_rule(Name=rule)["ScheduleExpression"].startswith("cron(")
    result = deployment.client("lambda").invoke(
        FunctionName=target["Arn"], Payload=target["Input"].encode()
    )
    assert "FunctionError" not in result, result["Payload"].read()
    report = json.loads(result["Payload"].read())
    assert report["expired"] >= 2
    assert messages.exists(kept.id)
    assert not messages.exists(gone.id)
    assert not messages.exists(short.id)
    assert deployment.inlet("show", kept.id).returncode == 0
    assert deployment.inlet("show", gone.id, check=False).returncode == 1


def verify(deployment: Deployment, port: int, *, timeout: int) -> CompletedProcess[str]:
    """`inlet verify` against the relay on `port`; its exit code is the caller's to check."""
    return deployment.inlet(
        "verify",
        *("--smtp-host", "127.0.0.1", "--smtp-port", str(port)),
        *("--to", f"verify@{DOMAIN}", "--timeout", str(timeout)),
        check=False,
    )


def test_inlet_verify_follows_a_message_through_the_deployment(
    deployment: Deployment, relay_port: int
) -> None:
    done = verify(deployment, relay_port, timeout=60)
    assert done.returncode == 0, done.stderr
    stages = [line.split()[0] for line in done.stdout.splitlines() if line.strip()]
    assert stages[:4] == ["accepted", "stored", "parsed", "searchable"]


def test_inlet_verify_names_the_stage_that_stuck(deployment: Deployment, relay_port: int) -> None:
    with parse_mapping_disabled(deployment):
        done = verify(deployment, relay_port, timeout=5)
    assert done.returncode == 1
    assert "parsed" in done.stderr + done.stdout
    queues_quiet(deployment)
