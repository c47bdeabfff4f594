"""One construct per concern: network, storage, relay service, functions, monitoring.

Each takes keyword-only props, reads no environment variables and makes no AWS calls; the
stacks in infra/stacks.py wire them together from an EnvironmentConfig.
"""

from collections.abc import Mapping
from pathlib import Path

from aws_cdk import Acknowledgment, Validations
from constructs import IConstruct

# The repository root: the build context of Dockerfile.relay and the source of the Lambda code.
REPO_ROOT = Path(__file__).resolve().parents[2]


def acknowledge(construct: IConstruct, reasons: Mapping[str, str]) -> None:
    """Acknowledge findings (cdk-nag's `AwsSolutions-…`, CDK's `CloudFormation-Validate::…`)
    on `construct` and everything under it, each with the reason it is accepted."""
    Validations.of(construct).acknowledge(
        *(Acknowledgment(id=rule, reason=reason) for rule, reason in reasons.items())
    )
