"""retention: on a schedule, remove messages past their retention period (never held ones).

The event may carry {"dry_run": true} to only report. A run with failures raises after
reporting, so the invocation counts as an error; the next run picks up what is left.
"""

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions import metrics as m
from functions.environment import environment, route_core_logs
from inlet.errors import TransientError
from inlet.expiry_sweep import run_retention

logger = Logger(service=m.RETENTION_SERVICE)
metrics = Metrics(namespace=m.NAMESPACE, service=m.RETENTION_SERVICE)
route_core_logs(logger)


class RetentionIncomplete(TransientError):
    """Some expired messages could not be removed this time."""


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, object]:
    env = environment()
    dry_run = event.get("dry_run") is True
    report = run_retention(
        env.messages, env.index, env.policy, now=datetime.now(UTC), dry_run=dry_run
    )
    if not dry_run:
        metrics.add_metric(name=m.MESSAGES_EXPIRED, unit=MetricUnit.Count, value=report.expired)
    metrics.add_metric(name=m.MESSAGES_HELD, unit=MetricUnit.Count, value=report.held)
    metrics.add_metric(name=m.RETENTION_FAILURES, unit=MetricUnit.Count, value=report.failed)
    logger.info("retention finished", extra=report.to_dict())
    if report.failed:
        raise RetentionIncomplete(f"{report.failed} expired messages not removed; will retry")
    return report.to_dict()
