"""Alarms, the alarm topic and the dashboard, and the contract between the metrics they use and
the metrics the relay and the functions actually emit."""

import io
import json
from typing import Any

import pytest
from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

from functions import metrics as fn_metrics
from relay import replies
from relay.metrics import RelayMetrics
from tests.infra.cfn import flatten, one, resources
from tests.infra.conftest import Synth

pytestmark = pytest.mark.infra

# (namespace, metric name, frozenset of (dimension, value))
MetricKey = tuple[str, str, frozenset[tuple[str, str]]]


def alarms(synth: Synth) -> dict[str, dict[str, Any]]:
    return {
        k.removeprefix("Monitoring"): v["Properties"]
        for k, v in resources(synth.template_json(synth.pipeline), "AWS::CloudWatch::Alarm").items()
    }


def alarm(synth: Synth, prefix: str) -> dict[str, Any]:
    (found,) = [v for k, v in alarms(synth).items() if k.startswith(prefix)]
    return found


def dims(dimensions: list[dict[str, Any]]) -> frozenset[tuple[str, str]]:
    return frozenset((d["Name"], flatten(d["Value"])) for d in dimensions)


def alarm_metrics(props: dict[str, Any]) -> list[MetricKey]:
    if "MetricName" in props:
        return [(props["Namespace"], props["MetricName"], dims(props.get("Dimensions", [])))]
    found = []
    for query in props["Metrics"]:
        if "MetricStat" in query:
            metric = query["MetricStat"]["Metric"]
            found.append(
                (metric["Namespace"], metric["MetricName"], dims(metric.get("Dimensions", [])))
            )
    return found


def dashboard_widgets(synth: Synth) -> list[dict[str, Any]]:
    dashboard = one(synth.template_json(synth.pipeline), "AWS::CloudWatch::Dashboard")
    # Fn::Join of JSON text and tokens (region, queue names, ...), which sit inside strings.
    body: dict[str, Any] = json.loads(flatten(dashboard["Properties"]["DashboardBody"]))
    widgets: list[dict[str, Any]] = body["widgets"]
    return widgets


def dashboard_metrics(synth: Synth) -> list[MetricKey]:
    found = []
    for widget in dashboard_widgets(synth):
        for entry in widget.get("properties", {}).get("metrics", []):
            fields = [f for f in entry if not isinstance(f, dict)]
            if not fields:
                continue  # a math expression; the metrics it uses are entries of their own
            namespace, name, *pairs = fields
            found.append((namespace, name, frozenset(zip(pairs[::2], pairs[1::2], strict=True))))
    return found


def relay_emitted() -> set[MetricKey]:
    """What a real relay flush writes (namespace, names, dimensions), for every reply code the
    relay can send (its table of replies, relay/replies.py: 250 and every refusal)."""
    metrics = RelayMetrics(clock=lambda: 0.0)
    metrics.session_opened()
    metrics.stored(1000, 0.05)
    metrics.store_failed()
    for code in {replies.code(reply) for reply in replies.REPLIES}:
        metrics.reply(code)
    out = io.StringIO()
    metrics.flush(out)
    return emf_keys(json.loads(line) for line in out.getvalue().splitlines())


def functions_emitted() -> set[MetricKey]:
    """What Powertools writes for each function's metrics (functions/metrics.py)."""
    documents = []
    for service, names in fn_metrics.EMITTED.items():
        metrics = Metrics(namespace=fn_metrics.NAMESPACE, service=service)
        for name in names:
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)
        documents.append(metrics.serialize_metric_set())
        metrics.clear_metrics()
    return emf_keys(documents)


def emf_keys(documents: Any) -> set[MetricKey]:
    found = set()
    for document in documents:
        for directive in document["_aws"]["CloudWatchMetrics"]:
            for dimension_set in directive["Dimensions"]:
                dimensions = frozenset((d, str(document[d])) for d in dimension_set)
                for metric in directive["Metrics"]:
                    found.add((directive["Namespace"], metric["Name"], dimensions))
    return found


def assert_used_metrics_are_emitted(synth: Synth) -> list[MetricKey]:
    """Every Inlet metric an alarm or the dashboard uses is one the code writes, with the same
    namespace and dimensions; returns every metric used (AWS ones too)."""
    emitted = relay_emitted() | functions_emitted()
    used = [m for props in alarms(synth).values() for m in alarm_metrics(props)]
    used += dashboard_metrics(synth)
    inlet = {m for m in used if not m[0].startswith("AWS/")}
    assert {m[0] for m in inlet} == {"Inlet"}
    assert inlet <= emitted, sorted(inlet - emitted)
    return used


def test_every_inlet_metric_used_is_one_the_code_emits(env_synth: Synth) -> None:
    used = assert_used_metrics_are_emitted(env_synth)
    # And the flow is actually on the dashboard, end to end.
    names = {m[1] for m in dashboard_metrics(env_synth)}
    assert {
        "Replies",
        "MessagesStored",
        "MessagesParsed",
        "MessagesQuarantined",
        "MessagesIndexed",
        "StoreLatency",
    } <= names
    # Everything else is an AWS metric (queues, functions, NLB, ECS).
    assert {m[0] for m in used} - {"Inlet"} <= {
        "AWS/SQS",
        "AWS/Lambda",
        "AWS/NetworkELB",
        "AWS/ECS",
    }


def test_the_contract_check_would_catch_a_typo() -> None:
    emitted = relay_emitted()
    assert ("Inlet", "Replies", frozenset({("service", "relay"), ("ReplyCode", "550")})) in emitted
    assert ("Inlet", "Replies", frozenset({("service", "relay")})) not in emitted
    assert ("Inlet", "StoreFailures", frozenset({("service", "relay")})) in emitted
    assert ("Inlet", "MessagesParsed", frozenset({("service", "parse")})) in functions_emitted()


def test_the_alarms_that_must_exist(env_synth: Synth) -> None:
    found = alarms(env_synth)
    for prefix, namespace, metric in [
        ("ParseDeadLetters", "AWS/SQS", "ApproximateNumberOfMessagesVisible"),
        ("IndexDeadLetters", "AWS/SQS", "ApproximateNumberOfMessagesVisible"),
        ("ParseQueueAge", "AWS/SQS", "ApproximateAgeOfOldestMessage"),
        ("IndexQueueAge", "AWS/SQS", "ApproximateAgeOfOldestMessage"),
        ("ParseErrors", "AWS/Lambda", "Errors"),
        ("IndexErrors", "AWS/Lambda", "Errors"),
        ("RetentionErrors", "AWS/Lambda", "Errors"),
        ("ParseThrottles", "AWS/Lambda", "Throttles"),
        ("IndexThrottles", "AWS/Lambda", "Throttles"),
        ("RetentionThrottles", "AWS/Lambda", "Throttles"),
        ("RelayUnhealthyHosts", "AWS/NetworkELB", "UnHealthyHostCount"),
        ("RelayStoreFailures", "Inlet", "StoreFailures"),
        ("RelayCpu", "AWS/ECS", "CPUUtilization"),
        ("RelayMemory", "AWS/ECS", "MemoryUtilization"),
    ]:
        (props,) = [v for k, v in found.items() if k.startswith(prefix)]
        assert (props["Namespace"], props["MetricName"]) == (namespace, metric), prefix
    # Anything in a dead-letter queue, any store failure, any error is worth a message.
    for prefix in ("ParseDeadLetters", "IndexDeadLetters", "RelayStoreFailures", "ParseErrors"):
        props = alarm(env_synth, prefix)
        assert (props["ComparisonOperator"], props["Threshold"]) == ("GreaterThanThreshold", 0)
    unhealthy = alarm(env_synth, "RelayUnhealthyHosts")
    assert {d["Name"] for d in unhealthy["Dimensions"]} == {"TargetGroup", "LoadBalancer"}
    assert (
        alarm(env_synth, "ParseQueueAge")["Threshold"] == env_synth.config.queue_age_alarm_seconds
    )


def test_the_refusal_rate_alarm_is_metric_math_over_all_replies(env_synth: Synth) -> None:
    props = alarm(env_synth, "RelayRefusalRate")
    assert props["Threshold"] == env_synth.config.refusal_alarm_percent
    (expression,) = [q for q in props["Metrics"] if "Expression" in q]
    assert expression["ReturnData"] is not False
    used = {(m[1], dict(m[2]).get("ReplyCode")) for m in alarm_metrics(props)}
    # The relay's 250s and its Refused sum: within metric math's 10 metrics however many
    # refusal codes there are.
    assert used == {("Replies", "250"), ("Refused", None)}
    assert "100 * FILL(refused, 0)" in expression["Expression"]


def test_refused_counts_every_refusal_in_the_relays_table_and_nothing_else() -> None:
    # A refusal added to relay/replies.py is in the alarm without being listed anywhere else.
    metrics = RelayMetrics(clock=lambda: 0.0)
    for reply in replies.REPLIES:
        metrics.reply(replies.code(reply))
    (service,) = [d for d in metrics.documents() if "ReplyCode" not in d]
    assert service["Refused"] == len(replies.REFUSALS)
    assert all(replies.code(reply) >= 400 for reply in replies.REFUSALS)


def test_every_alarm_notifies_the_topic(env_synth: Synth) -> None:
    template = env_synth.template_json(env_synth.pipeline)
    (topic,) = resources(template, "AWS::SNS::Topic")
    for name, props in alarms(env_synth).items():
        assert [flatten(a) for a in props["AlarmActions"]] == [f"<{topic}>"], name
        assert props["AlarmDescription"], name
    assert len(alarms(env_synth)) >= 14


def test_the_topic_is_encrypted_tls_only_and_has_the_configured_subscribers(
    staging: Synth, production: Synth
) -> None:
    for synth in (staging, production):
        template = synth.template_json(synth.pipeline)
        topic = one(template, "AWS::SNS::Topic")["Properties"]
        assert "KmsMasterKeyId" in topic
        subscriptions = resources(template, "AWS::SNS::Subscription").values()
        assert sorted(s["Properties"]["Endpoint"] for s in subscriptions) == sorted(
            synth.config.alarm_emails
        )
        assert all(s["Properties"]["Protocol"] == "email" for s in subscriptions)
        policy_doc = one(template, "AWS::SNS::TopicPolicy")["Properties"]["PolicyDocument"]
        assert any(
            s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
            for s in policy_doc["Statement"]
        )
        # CloudWatch may use the topic's key to publish.
        key_policy = one(template, "AWS::KMS::Key")["Properties"]["KeyPolicy"]["Statement"]
        assert any(
            s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"} for s in key_policy
        )


def test_one_dashboard_per_environment(env_synth: Synth) -> None:
    dashboard = one(env_synth.template_json(env_synth.pipeline), "AWS::CloudWatch::Dashboard")
    assert dashboard["Properties"]["DashboardName"] == f"Inlet-{env_synth.config.name}"
    titles = {w.get("properties", {}).get("title") for w in dashboard_widgets(env_synth)}
    for title in (
        "Flow: accepted → stored → parsed → indexed",
        "Refusals by code",
        "Relay store latency (ms)",
        "Function duration (ms)",
        "Queue depth (visible messages)",
        "Oldest message age (s)",
        "Function errors and throttles",
        "Alarms",
    ):
        assert title in titles
    latency = next(
        w
        for w in dashboard_widgets(env_synth)
        if w["properties"].get("title") == "Relay store latency (ms)"
    )
    stats = {m[-1].get("stat") for m in latency["properties"]["metrics"] if isinstance(m[-1], dict)}
    assert {"p50", "p99"} <= stats
