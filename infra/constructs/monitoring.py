"""Alarms (to an SNS topic) and one dashboard per environment.

Every metric in the `Inlet` namespace is built from the names the code emits: relay/metrics.py
(the relay's EMF documents) and functions/metrics.py (Powertools in the Lambdas). A test holds
each alarm's and the dashboard's metrics against what those modules actually write.
"""

from collections.abc import Sequence

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from functions import metrics as fn_metrics
from infra.units import MonitoringConfig
from relay import metrics as relay_metrics
from relay import replies as reply_table

# The dimension names the relay and Powertools write (tests/infra checks them against a real
# EMF document from relay.metrics.RelayMetrics).
SERVICE_DIMENSION = relay_metrics.SERVICE_DIMENSION
REPLY_CODE_DIMENSION = relay_metrics.REPLY_CODE_DIMENSION
# Both from the relay's table of the replies it composes (relay/replies.py): a refusal added
# there is counted by the refusal alarm without anyone having to list it here too.
# `250 2.0.0 Ok: queued as <id>`: the message is stored.
ACCEPTED_CODE = str(reply_table.code(reply_table.ACCEPTED))
REFUSAL_CODES = tuple(sorted({str(reply_table.code(reply)) for reply in reply_table.REFUSALS}))
# Below this many replies in a period the refusal rate means nothing (one spam run against an
# unknown domain is 100 % refusals).
REFUSAL_ALARM_MIN_REPLIES = 20
PERIOD = Duration.minutes(5)
FINE_PERIOD = Duration.minutes(1)
UTILISATION_ALARM_PERCENT = 85


def inlet_metric(
    name: str,
    service: str,
    *,
    statistic: str = "Sum",
    period: Duration = PERIOD,
    label: str | None = None,
    **dimensions: str,
) -> cw.Metric:
    """A metric in the Inlet namespace, dimensioned by `service` (and any extra dimension)."""
    namespace = (
        relay_metrics.NAMESPACE if service == relay_metrics.SERVICE else fn_metrics.NAMESPACE
    )
    return cw.Metric(
        namespace=namespace,
        metric_name=name,
        dimensions_map={SERVICE_DIMENSION: service, **dimensions},
        statistic=statistic,
        period=period,
        label=label,
    )


def replies(code: str, *, period: Duration = PERIOD) -> cw.Metric:
    return inlet_metric(
        relay_metrics.REPLIES,
        relay_metrics.SERVICE,
        period=period,
        label=code,
        **{REPLY_CODE_DIMENSION: code},
    )


class Monitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: MonitoringConfig,
        queues: Sequence[tuple[str, sqs.IQueue, sqs.IQueue]],
        functions: Sequence[tuple[str, lambda_.IFunction]],
        # The environment has a webhook (its queue and function are in the lists above).
        webhook: bool,
        service: ecs.FargateService,
        load_balancer: elbv2.NetworkLoadBalancer,
        target_group: elbv2.NetworkTargetGroup,
    ) -> None:
        super().__init__(scope, id)
        # CloudWatch alarms may publish to an encrypted topic only if the key lets them.
        topic_key = kms.Key(
            self,
            "TopicKey",
            description=f"Inlet {config.environment}: alarm notifications",
            enable_key_rotation=True,
            # It protects notifications in flight, nothing stored.
            removal_policy=RemovalPolicy.DESTROY,
        )
        topic_key.grant(
            iam.ServicePrincipal("cloudwatch.amazonaws.com"), "kms:Decrypt", "kms:GenerateDataKey"
        )
        self.topic = sns.Topic(
            self,
            "Alarms",
            display_name=f"Inlet {config.environment} alarms",
            master_key=topic_key,
            enforce_ssl=True,
        )
        for address in config.alarm_emails:
            self.topic.add_subscription(subscriptions.EmailSubscription(address))
        self._action = cw_actions.SnsAction(self.topic)
        self.alarms: list[cw.Alarm] = []

        # Queues: a dead letter is a message that failed five times; age is a stuck consumer.
        for name, queue, dead_letters in queues:
            self._alarm(
                f"{name}DeadLetters",
                dead_letters.metric_approximate_number_of_messages_visible(
                    statistic="Maximum", period=FINE_PERIOD
                ),
                threshold=0,
                description=f"{name}: messages in the dead-letter queue (re-drive once fixed)",
            )
            self._alarm(
                f"{name}QueueAge",
                queue.metric_approximate_age_of_oldest_message(statistic="Maximum", period=PERIOD),
                threshold=config.queue_age_alarm_seconds,
                description=f"{name}: oldest message older than {config.queue_age_alarm_seconds} s",
                periods=2,
            )

        for name, fn in functions:
            self._alarm(
                f"{name}Errors",
                fn.metric_errors(statistic="Sum", period=PERIOD),
                threshold=0,
                description=f"{name} function: invocation errors",
            )
            self._alarm(
                f"{name}Throttles",
                fn.metric_throttles(statistic="Sum", period=PERIOD),
                threshold=0,
                description=f"{name} function: throttled (reserved concurrency too low?)",
            )

        index = fn_metrics.INDEX_SERVICE
        self._alarm(
            "EventsFailed",
            inlet_metric(fn_metrics.EVENTS_FAILED, index),
            threshold=0,
            description=(
                "index: the event bus refused events (the messages are retried, then held in "
                "the index DLQ; nothing is lost)"
            ),
        )

        if webhook:
            # Not the queue's age: SQS leaves a message received three times or more out of
            # ApproximateAgeOfOldestMessage, so retries alone never raise it.
            self._alarm(
                "WebhookFailing",
                inlet_metric(fn_metrics.WEBHOOK_RETRIES, fn_metrics.WEBHOOK_SERVICE),
                threshold=0,
                description=(
                    "webhook: deliveries failing for 15 minutes (receiver down or refusing?); "
                    "they are retried for 24 hours, then held in the webhook DLQ"
                ),
                periods=3,
            )

        unhealthy = target_group.metrics.un_healthy_host_count(
            statistic="Maximum", period=FINE_PERIOD
        )
        healthy = target_group.metrics.healthy_host_count(statistic="Minimum", period=FINE_PERIOD)
        self._alarm(
            "RelayUnhealthyHosts",
            unhealthy,
            threshold=0,
            description="relay tasks failing the NLB health check",
            periods=3,
        )
        self._alarm(
            "RelayNoHealthyHosts",
            healthy,
            threshold=1,
            comparison=cw.ComparisonOperator.LESS_THAN_THRESHOLD,
            description="no relay task is healthy: mail is not being accepted",
            periods=2,
            missing=cw.TreatMissingData.BREACHING,
        )

        refusal_rate = self.refusal_rate(PERIOD)
        self._alarm(
            "RelayRefusalRate",
            refusal_rate,
            threshold=config.refusal_alarm_percent,
            description=(
                f"more than {config.refusal_alarm_percent} % of SMTP replies are refusals "
                f"({', '.join(REFUSAL_CODES)})"
            ),
            periods=3,
        )
        store_failures = inlet_metric(relay_metrics.STORE_FAILURES, relay_metrics.SERVICE)
        self._alarm(
            "RelayStoreFailures",
            store_failures,
            threshold=0,
            description="messages answered 451 because S3 failed",
        )
        cpu = service.metric_cpu_utilization(statistic="Average", period=PERIOD)
        memory = service.metric_memory_utilization(statistic="Average", period=PERIOD)
        self._alarm(
            "RelayCpu",
            cpu,
            threshold=UTILISATION_ALARM_PERCENT,
            description="relay CPU high (autoscaling at its maximum?)",
            periods=3,
        )
        self._alarm(
            "RelayMemory",
            memory,
            threshold=UTILISATION_ALARM_PERCENT,
            description="relay memory high",
            periods=3,
        )

        self.dashboard = cw.Dashboard(
            self,
            "Dashboard",
            dashboard_name=f"Inlet-{config.environment}",
            default_interval=Duration.hours(6),
        )
        self._dashboard(queues, functions, cpu, memory, healthy, unhealthy, load_balancer)
        self._events_widgets(webhook)
        self.dashboard.add_widgets(
            cw.AlarmStatusWidget(title="Alarms", alarms=self.alarms, width=24)
        )

    # -- metrics -------------------------------------------------------------------------

    def refusal_rate(self, period: Duration) -> cw.MathExpression:
        """Refusals (4xx and 5xx) as a percentage of all replies the relay counted: the relay's
        `Refused` (every refusal code of its table, summed) over that plus its 250s."""
        using: dict[str, cw.IMetric] = {
            "accepted": replies(ACCEPTED_CODE, period=period),
            "refused": inlet_metric(relay_metrics.REFUSED, relay_metrics.SERVICE, period=period),
        }
        total = "FILL(accepted, 0) + FILL(refused, 0)"
        return cw.MathExpression(
            expression=(
                f"IF(({total}) >= {REFUSAL_ALARM_MIN_REPLIES}, "
                f"100 * FILL(refused, 0) / ({total}), 0)"
            ),
            using_metrics=using,
            label="refused %",
            period=period,
        )

    def _alarm(
        self,
        id: str,
        metric: cw.IMetric,
        *,
        threshold: float,
        description: str,
        periods: int = 1,
        comparison: cw.ComparisonOperator = cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
        missing: cw.TreatMissingData = cw.TreatMissingData.NOT_BREACHING,
    ) -> None:
        alarm = cw.Alarm(
            self,
            id,
            metric=metric,
            threshold=threshold,
            evaluation_periods=periods,
            datapoints_to_alarm=periods,
            comparison_operator=comparison,
            treat_missing_data=missing,
            alarm_description=description,
        )
        alarm.add_alarm_action(self._action)
        alarm.add_ok_action(self._action)
        self.alarms.append(alarm)

    # -- dashboard -----------------------------------------------------------------------

    def _dashboard(
        self,
        queues: Sequence[tuple[str, sqs.IQueue, sqs.IQueue]],
        functions: Sequence[tuple[str, lambda_.IFunction]],
        cpu: cw.Metric,
        memory: cw.Metric,
        healthy: cw.Metric,
        unhealthy: cw.Metric,
        load_balancer: elbv2.NetworkLoadBalancer,
    ) -> None:
        relay = relay_metrics.SERVICE
        parse, index = fn_metrics.PARSE_SERVICE, fn_metrics.INDEX_SERVICE
        flow = [
            replies(ACCEPTED_CODE).with_(label="accepted (250)"),
            inlet_metric(relay_metrics.MESSAGES_STORED, relay, label="stored"),
            inlet_metric(fn_metrics.MESSAGES_PARSED, parse, label="parsed"),
            inlet_metric(fn_metrics.MESSAGES_QUARANTINED, parse, label="quarantined"),
            inlet_metric(fn_metrics.MESSAGES_INDEXED, index, label="indexed"),
        ]
        d = self.dashboard
        d.add_widgets(
            cw.TextWidget(
                markdown=(
                    "## Inlet: SMTP → S3 → parse → index\n"
                    "A message is *accepted* when the relay answered 250 (it is *stored* at "
                    "that moment), then *parsed* (or *quarantined*) and *indexed*. The counts "
                    "should move together; a gap is work queued or failing (see the queues)."
                ),
                width=24,
                height=2,
            )
        )
        d.add_widgets(
            cw.SingleValueWidget(
                title="Messages (sum over the range)",
                metrics=flow,
                width=24,
                set_period_to_time_range=True,
                height=4,
            ),
        )
        d.add_widgets(
            cw.GraphWidget(title="Flow: accepted → stored → parsed → indexed", left=flow, width=12),
            cw.GraphWidget(
                title="Refusals by code",
                left=[replies(code) for code in REFUSAL_CODES],
                right=[self.refusal_rate(PERIOD)],
                stacked=False,
                width=12,
            ),
        )
        d.add_widgets(
            cw.GraphWidget(
                title="Relay store latency (ms)",
                left=[
                    inlet_metric(relay_metrics.STORE_LATENCY, relay, statistic="p50", label="p50"),
                    inlet_metric(relay_metrics.STORE_LATENCY, relay, statistic="p99", label="p99"),
                ],
                right=[
                    inlet_metric(relay_metrics.STORE_FAILURES, relay, label="store failures"),
                ],
                width=12,
            ),
            cw.GraphWidget(
                title="Function duration (ms)",
                left=[
                    fn.metric_duration(statistic=stat, period=PERIOD, label=f"{name} {stat}")
                    for name, fn in functions
                    for stat in ("p50", "p99")
                ],
                width=12,
            ),
        )
        d.add_widgets(
            cw.GraphWidget(
                title="Queue depth (visible messages)",
                left=[
                    q.metric_approximate_number_of_messages_visible(
                        statistic="Maximum", period=PERIOD, label=name
                    )
                    for name, q, _ in queues
                ],
                right=[
                    dlq.metric_approximate_number_of_messages_visible(
                        statistic="Maximum", period=PERIOD, label=f"{name} DLQ"
                    )
                    for name, _, dlq in queues
                ],
                width=12,
            ),
            cw.GraphWidget(
                title="Oldest message age (s)",
                left=[
                    q.metric_approximate_age_of_oldest_message(
                        statistic="Maximum", period=PERIOD, label=name
                    )
                    for name, q, _ in queues
                ],
                width=12,
            ),
        )
        d.add_widgets(
            cw.GraphWidget(
                title="Function errors and throttles",
                left=[
                    fn.metric_errors(statistic="Sum", period=PERIOD, label=f"{name} errors")
                    for name, fn in functions
                ],
                right=[
                    fn.metric_throttles(statistic="Sum", period=PERIOD, label=f"{name} throttles")
                    for name, fn in functions
                ],
                width=12,
            ),
            cw.GraphWidget(
                title="Relay tasks (NLB health) and sessions",
                left=[healthy.with_(label="healthy"), unhealthy.with_(label="unhealthy")],
                right=[
                    inlet_metric(relay_metrics.SESSIONS, relay, label="SMTP sessions"),
                    load_balancer.metrics.new_flow_count(statistic="Sum", period=PERIOD),
                ],
                width=12,
            ),
        )
        d.add_widgets(
            cw.GraphWidget(
                title="Relay CPU and memory (%)",
                left=[cpu.with_(label="CPU"), memory.with_(label="memory")],
                width=12,
            ),
            cw.GraphWidget(
                title="Bytes stored",
                left=[inlet_metric(relay_metrics.BYTES_STORED, relay, label="bytes")],
                width=12,
            ),
        )
        retention = fn_metrics.RETENTION_SERVICE
        d.add_widgets(
            cw.GraphWidget(
                title="Retention runs",
                left=[
                    inlet_metric(fn_metrics.MESSAGES_EXPIRED, retention, label="expired"),
                    inlet_metric(fn_metrics.MESSAGES_HELD, retention, label="held"),
                    inlet_metric(fn_metrics.RETENTION_FAILURES, retention, label="not removed"),
                ],
                period=Duration.days(1),
                width=12,
            ),
        )

    def _events_widgets(self, webhook: bool) -> None:
        index, hook = fn_metrics.INDEX_SERVICE, fn_metrics.WEBHOOK_SERVICE
        widgets: list[cw.IWidget] = [
            cw.GraphWidget(
                title="Events to the bus",
                left=[
                    inlet_metric(fn_metrics.EVENTS_PUBLISHED, index, label="published"),
                    inlet_metric(fn_metrics.EVENTS_FAILED, index, label="refused (retried)"),
                ],
                width=12,
            )
        ]
        if webhook:
            widgets.append(
                cw.GraphWidget(
                    title="Webhook deliveries",
                    left=[
                        inlet_metric(fn_metrics.WEBHOOKS_DELIVERED, hook, label="delivered"),
                        inlet_metric(fn_metrics.WEBHOOK_RETRIES, hook, label="to retry"),
                        inlet_metric(fn_metrics.WEBHOOKS_FAILED, hook, label="given up (DLQ)"),
                    ],
                    width=12,
                )
            )
        self.dashboard.add_widgets(*widgets)
