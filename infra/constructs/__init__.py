"""One construct per concern: network, storage, relay service, functions, monitoring.

Each takes keyword-only props (its share of the environment as one config object from
infra/units.py, other constructs separately), reads no environment variables and makes no AWS
calls; the stacks in infra/stacks.py wire them together from an EnvironmentConfig.
"""

from collections.abc import Mapping
from pathlib import Path

from aws_cdk import Acknowledgment, Validations
from aws_cdk import aws_logs as logs
from constructs import IConstruct

from infra.config import LOG_RETENTION_DAYS

# The repository root: the build context of Dockerfile.relay and the source of the Lambda code.
REPO_ROOT = Path(__file__).resolve().parents[2]

# Days → CDK's enum member (same order, INFINITE aside: logs are never kept forever here).
_RETENTION = dict(
    zip(
        LOG_RETENTION_DAYS,
        [days for days in logs.RetentionDays if days is not logs.RetentionDays.INFINITE],
        strict=True,
    )
)


def log_retention(days: int) -> logs.RetentionDays:
    """CDK's retention for `days`, which must be one CloudWatch Logs accepts."""
    try:
        return _RETENTION[days]
    except KeyError:
        raise ValueError(f"{days} days is no CloudWatch Logs retention period") from None


def acknowledge(construct: IConstruct, reasons: Mapping[str, str]) -> None:
    """Acknowledge findings (cdk-nag's `AwsSolutions-…`, CDK's `CloudFormation-Validate::…`)
    on `construct` and everything under it, each with the reason it is accepted."""
    Validations.of(construct).acknowledge(
        *(Acknowledgment(id=rule, reason=reason) for rule, reason in reasons.items())
    )
