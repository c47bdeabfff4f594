"""The event bus of each environment (storage stack, pinned), the index function's right to put
events on it, and the optional webhook: rule → queue (+ DLQ) → the signing function."""

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from infra.config import STAGING
from infra.constructs import functions as fn
from infra.constructs.events import LOGICAL_IDS
from infra.constructs.storage import QUEUE_RETENTION
from inlet import settings
from inlet.webhook.schedule import attempts_within
from tests.infra.cfn import flatten, grants, resources
from tests.infra.conftest import WEBHOOK_URL, Synth
from tests.infra.test_checks import cfn_lint
from tests.infra.test_functions import role_of
from tests.infra.test_monitoring import alarm, alarms, assert_used_metrics_are_emitted

pytestmark = pytest.mark.infra


@pytest.fixture(scope="module")
def webhook(synth: Callable[..., Synth]) -> Synth:
    return synth("staging", webhook=True)


def function(template: dict[str, Any], name: str) -> dict[str, Any]:
    (props,) = [
        v["Properties"]
        for k, v in resources(template, "AWS::Lambda::Function").items()
        if k.startswith(f"Functions{name}")
    ]
    return props


def granted(template: dict[str, Any], name: str) -> set[tuple[str, str]]:
    """(action, resource) pairs the function's role is allowed."""
    return grants(template, role_of(function(template, name)))


def test_each_environment_has_its_bus_and_archive_pinned(env_synth: Synth) -> None:
    # Exact values: changing one makes CloudFormation replace the resource (and lose its
    # rules, archive or waiting deliveries).
    assert LOGICAL_IDS == {
        "bus": "EventBus",
        "archive": "EventArchive",
        "webhook_secret": "WebhookSecret",
        "webhook_queue": "WebhookQueue",
        "webhook_dlq": "WebhookDeadLetterQueue",
        "webhook_rule": "WebhookRule",
    }
    template = env_synth.template_json(env_synth.storage)
    bus = template["Resources"]["EventBus"]
    assert bus["Type"] == "AWS::Events::EventBus"
    assert bus["Properties"]["Name"] == f"inlet-{env_synth.config.name}"
    archive = template["Resources"]["EventArchive"]
    assert archive["Type"] == "AWS::Events::Archive"
    assert archive["Properties"]["RetentionDays"] == env_synth.config.event_archive_days
    assert archive["Properties"]["EventPattern"] == {"source": ["inlet"]}
    assert archive["Properties"]["SourceArn"] == {"Fn::GetAtt": ["EventBus", "Arn"]}
    assert "KmsKeyIdentifier" not in archive["Properties"]
    policy = "Retain" if env_synth.config.production else "Delete"
    assert bus["DeletionPolicy"] == archive["DeletionPolicy"] == policy
    assert {"EventBusName", "EventBusArn"} <= set(template["Outputs"])
    # No webhook configured: nothing of it is deployed.
    assert not resources(template, "AWS::Events::Rule")
    assert "WebhookSecretArn" not in template["Outputs"]
    assert not [k for k in template["Resources"] if k.startswith("Webhook")]


def test_the_index_function_puts_events_on_its_bus_only(env_synth: Synth) -> None:
    template = env_synth.template_json(env_synth.pipeline)
    env = function(template, "Index")["Environment"]["Variables"]
    assert flatten(env["INLET_EVENT_BUS"]).startswith("<output:PublishOutputRefEventBus")
    puts = [g for g in granted(template, "Index") if g[0].startswith("events:")]
    assert len(puts) == 1
    assert puts[0][0] == "events:PutEvents"
    assert puts[0][1].startswith("<output:PublishOutputFnGetAttEventBusArn")
    # The parse function has no business with the bus.
    assert not [g for g in granted(template, "Parse") if g[0].startswith("events:")]


def test_the_failed_puts_alarm_is_on_the_index_functions_metric(env_synth: Synth) -> None:
    props = alarm(env_synth, "EventsFailed")
    assert (props["Namespace"], props["MetricName"]) == ("Inlet", "EventsFailed")
    assert {(d["Name"], d["Value"]) for d in props["Dimensions"]} == {("service", "index")}
    assert (props["ComparisonOperator"], props["Threshold"]) == ("GreaterThanThreshold", 0)


def test_the_webhook_rule_feeds_its_queue_and_dlq(webhook: Synth) -> None:
    template = webhook.template_json(webhook.storage)
    res = template["Resources"]
    rule = res[LOGICAL_IDS["webhook_rule"]]["Properties"]
    assert rule["EventBusName"] == {"Ref": "EventBus"}
    assert rule["EventPattern"] == {"source": ["inlet"]}
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [LOGICAL_IDS["webhook_queue"], "Arn"]}
    dlq_arn = {"Fn::GetAtt": [LOGICAL_IDS["webhook_dlq"], "Arn"]}
    assert target["DeadLetterConfig"]["Arn"] == dlq_arn
    queue = res[LOGICAL_IDS["webhook_queue"]]["Properties"]
    redrive = queue["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == dlq_arn
    # One receive per attempt of the schedule: the last one the schedule makes is the last.
    assert redrive["maxReceiveCount"] == attempts_within(webhook.config.webhook_retry_seconds)
    assert redrive["maxReceiveCount"] == 31  # 30 s doubling to an hour, for 24 hours
    assert queue["MessageRetentionPeriod"] == QUEUE_RETENTION.to_seconds()
    assert queue["VisibilityTimeout"] == fn.visibility_timeout(fn.WEBHOOK).to_seconds()
    # EventBridge may send to both queues, from this rule only.
    for logical_id in (LOGICAL_IDS["webhook_queue"], LOGICAL_IDS["webhook_dlq"]):
        (policy,) = [
            p["Properties"]["PolicyDocument"]
            for p in resources(template, "AWS::SQS::QueuePolicy").values()
            if {"Ref": logical_id} in p["Properties"]["Queues"]
        ]
        (send,) = [s for s in policy["Statement"] if "sqs:SendMessage" in s["Action"]]
        assert send["Principal"] == {"Service": "events.amazonaws.com"}
        assert send["Condition"]["ArnEquals"]["aws:SourceArn"] == {
            "Fn::GetAtt": [LOGICAL_IDS["webhook_rule"], "Arn"]
        }
    assert res[LOGICAL_IDS["webhook_secret"]]["Type"] == "AWS::SecretsManager::Secret"
    assert "WebhookSecretArn" in template["Outputs"]


def test_the_webhook_function_is_configured_to_start(webhook: Synth) -> None:
    template = webhook.template_json(webhook.pipeline)
    props = function(template, "Webhook")
    assert props["Handler"] == fn.WEBHOOK.handler
    assert props["Timeout"] == fn.WEBHOOK.timeout.to_seconds()
    env = {k: flatten(v) for k, v in props["Environment"]["Variables"].items()}
    assert env["INLET_WEBHOOK_URL"] == WEBHOOK_URL
    assert env["INLET_WEBHOOK_SECRET_ARN"].startswith("<output:PublishOutputRefWebhookSecret")
    assert env["INLET_WEBHOOK_RETRY_SECONDS"] == "30"
    # The settings the function reads at cold start accept what the stack gives it.
    loaded = settings.load("tool", {}, env)
    assert (loaded.webhook_url, loaded.webhook_secret, loaded.webhook_retry_seconds) == (
        WEBHOOK_URL,
        None,
        30,
    )
    allowed = granted(template, "Webhook")
    secret = [g for g in allowed if g[0].startswith("secretsmanager:")]
    assert {a for a, _ in secret} == {
        "secretsmanager:GetSecretValue",
        "secretsmanager:DescribeSecret",
    }
    assert all(r.startswith("<output:PublishOutputRefWebhookSecret") for _, r in secret)
    assert "sqs:ChangeMessageVisibility" in {a for a, _ in allowed}
    assert not [g for g in allowed if g[0].startswith(("s3:", "dynamodb:", "kms:"))]
    (mapping,) = [
        m["Properties"]
        for m in resources(template, "AWS::Lambda::EventSourceMapping").values()
        if "Webhook" in flatten(m["Properties"]["FunctionName"])
    ]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BatchSize"] == fn.WEBHOOK_BATCH_SIZE
    assert props["ReservedConcurrentExecutions"] == webhook.config.webhook_reserved_concurrency


def test_the_webhook_is_watched(webhook: Synth, staging: Synth) -> None:
    found = alarms(webhook)
    for prefix in ("WebhookDeadLetters", "WebhookQueueAge", "WebhookErrors", "EventsFailed"):
        assert [k for k in found if k.startswith(prefix)], prefix
    failing = alarm(webhook, "WebhookFailing")
    assert (failing["MetricName"], failing["Threshold"]) == ("WebhookRetries", 0)
    assert failing["EvaluationPeriods"] == failing["DatapointsToAlarm"] == 3
    # Only with a webhook.
    assert not [k for k in alarms(staging) if k.startswith("WebhookFailing")]
    used = assert_used_metrics_are_emitted(webhook)
    names = {m[1] for m in used if m[0] == "Inlet"}
    assert {"EventsPublished", "WebhooksDelivered", "WebhookRetries", "WebhooksFailed"} <= names


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"webhook_url": "http://hooks.example.net/"}, "webhook_url must be an https:// URL"),
        ({"webhook_url": "https:///path"}, "webhook_url must be an https:// URL"),
        ({"webhook_retry_seconds": 0}, r"webhook_retry_seconds must be 1\.\.3600"),
        ({"webhook_reserved_concurrency": 1}, "webhook_reserved_concurrency must be at least 2"),
        ({"event_archive_days": 0}, "event_archive_days must be at least 1"),
    ],
)
def test_bad_event_settings_are_refused(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(STAGING, **change)


def test_the_webhook_variant_is_clean_for_cfn_lint(webhook: Synth) -> None:
    # cdk-nag already ran in its synthesis (an unacknowledged finding fails it).
    templates = sorted(webhook.outdir.glob("*.template.json"))
    assert len(templates) == 2
    assert [p for t in templates for p in cfn_lint(t, webhook.config.region)] == []
