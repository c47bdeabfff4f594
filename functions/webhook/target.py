"""Where the webhook function sends, built once per cold start from INLET_* variables (set by
the CDK app): the URL, the retry schedule and the Secrets Manager secret that holds the key."""

import functools
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import boto3
from aws_lambda_powertools.utilities import parameters

from inlet import settings as config
from inlet.errors import ConfigError
from inlet.webhook.schedule import attempts_within

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

# The key is read again this long after it was last read: a rotated secret is in use within
# five minutes, without a Secrets Manager call per delivery.
SECRET_MAX_AGE_SECONDS = 300


@dataclass(frozen=True, slots=True)
class Target:
    url: str
    secret_arn: str
    retry_seconds: int
    sqs: "SQSClient"
    _queue_urls: dict[str, str] = field(default_factory=dict)

    @property
    def attempts(self) -> int:
        """Deliveries in all before giving up: the webhook queue's maxReceiveCount too."""
        return attempts_within(self.retry_seconds)

    def secret(self) -> str:
        value = parameters.get_secret(self.secret_arn, max_age=SECRET_MAX_AGE_SECONDS)
        if not isinstance(value, str) or not value.strip():
            raise ConfigError("the webhook secret is empty: put a key into it (docs/deploy.md)")
        return value.strip()

    def queue_url(self, queue_arn: str) -> str:
        """The URL of the queue an SQS record came from (arn:aws:sqs:region:account:name),
        asked once: it never changes."""
        if queue_arn not in self._queue_urls:
            *_, account, name = queue_arn.split(":")
            answer = self.sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)
            self._queue_urls[queue_arn] = answer["QueueUrl"]
        return self._queue_urls[queue_arn]


@functools.cache
def target() -> Target:
    """A ConfigError (every invocation fails loudly, nothing is lost) without URL and secret."""
    settings = config.load("tool", {}, os.environ)
    if not settings.webhook_url or not settings.webhook_secret_arn:
        raise ConfigError(
            "INLET_WEBHOOK_URL and INLET_WEBHOOK_SECRET_ARN must be set for the webhook function"
        )
    return Target(
        url=settings.webhook_url,
        secret_arn=settings.webhook_secret_arn,
        retry_seconds=settings.webhook_retry_seconds,
        sqs=boto3.client("sqs"),
    )
