"""Where Inlet's events go on AWS: one EventBridge bus per environment (`inlet-<env>`) with an
archive, and, when the environment has a webhook, the rule, queues and secret that feed the
webhook function.

It lives in the storage stack: consumers attach their own rules to the bus by name, the archive
holds the events of the last `archive_days`, and the webhook queue holds deliveries that are
waiting out a receiver's outage; none of that may go with a redeploy of the pipeline. The
logical IDs are pinned (LOGICAL_IDS) for the same reason as the bucket's.

The webhook is not an EventBridge API destination: a connection authorizes with a static key,
basic auth or OAuth, and cannot put an HMAC of each body in a header, which is what Inlet's
signature is (design.md). The rule sends each event to an SQS queue instead, and the webhook
function signs and POSTs it; a failure is retried on the schedule of `inlet up`'s outbox.
"""

from dataclasses import dataclass

from aws_cdk import CfnResource, Duration, RemovalPolicy
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.constructs import acknowledge
from infra.constructs.storage import make_queue, pin_logical_id
from infra.units import EventsConfig
from inlet import events as inlet_events
from inlet.webhook.schedule import attempts_within

LOGICAL_IDS = {
    "bus": "EventBus",
    "archive": "EventArchive",
    "webhook_secret": "WebhookSecret",
    "webhook_queue": "WebhookQueue",
    "webhook_dlq": "WebhookDeadLetterQueue",
    "webhook_rule": "WebhookRule",
}
# Every event Inlet emits, and nothing a consumer might put on the same bus.
INLET_EVENT_PATTERN = events.EventPattern(source=[inlet_events.SOURCE])
# A generated key: letters and digits (no quoting trouble in a receiver's configuration).
WEBHOOK_KEY_LENGTH = 48


@dataclass(frozen=True)
class WebhookQueue:
    """The webhook's share of the storage stack, for the function that consumes it."""

    queue: sqs.Queue
    dead_letter_queue: sqs.Queue
    secret: secretsmanager.Secret


class Events(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: EventsConfig,
        # From the webhook function's timeout, not from the environment.
        webhook_visibility_timeout: Duration,
    ) -> None:
        super().__init__(scope, id)
        removal = RemovalPolicy.RETAIN if config.production else RemovalPolicy.DESTROY
        self.bus = events.EventBus(self, "Bus", event_bus_name=config.bus_name)
        self.bus.apply_removal_policy(removal)
        pin_logical_id(self.bus, LOGICAL_IDS["bus"])
        self.archive = self.bus.archive(
            "Archive",
            archive_name=config.bus_name,
            description=f"Every Inlet event on {config.bus_name}, {config.archive_days} days",
            event_pattern=INLET_EVENT_PATTERN,
            retention=Duration.days(config.archive_days),
        )
        self.archive.apply_removal_policy(removal)
        pin_logical_id(self.archive, LOGICAL_IDS["archive"])
        # The L2 writes an empty KmsKeyIdentifier without a key; absent means the AWS-owned key.
        archive = self.archive.node.default_child
        assert isinstance(archive, CfnResource)
        archive.add_property_deletion_override("KmsKeyIdentifier")

        self.webhook: WebhookQueue | None = None
        if config.webhook_url is not None:
            self.webhook = self._webhook(config, webhook_visibility_timeout, removal)

    def _webhook(
        self, config: EventsConfig, visibility_timeout: Duration, removal: RemovalPolicy
    ) -> WebhookQueue:
        secret = secretsmanager.Secret(
            self,
            "WebhookSecret",
            description=(
                f"Inlet {config.bus_name}: the HMAC-SHA256 key of the webhook's Inlet-Signature "
                "(give it to the receiver; put a new value to rotate)"
            ),
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=WEBHOOK_KEY_LENGTH, exclude_punctuation=True
            ),
            removal_policy=removal,
        )
        pin_logical_id(secret, LOGICAL_IDS["webhook_secret"])
        acknowledge(
            secret,
            {
                "AwsSolutions-SMG4": (
                    "the key is shared with the webhook receiver, which a rotation function "
                    "cannot reach: the operator rotates it by putting a new value and giving "
                    "it to the receiver (docs/integrations.md); the function rereads it in 5 min"
                )
            },
        )
        dead_letters = make_queue(self, "WebhookDlq", LOGICAL_IDS["webhook_dlq"])
        queue = make_queue(
            self,
            "WebhookQueue",
            LOGICAL_IDS["webhook_queue"],
            visibility_timeout=visibility_timeout,
            dead_letter_queue=dead_letters,
            # The function sets each failed message's visibility to the next delay of the
            # schedule; the last receive the schedule allows is its last attempt.
            max_receive_count=attempts_within(config.webhook_retry_seconds),
        )
        rule = events.Rule(
            self,
            "WebhookRule",
            description="Inlet events to the webhook function's queue",
            event_bus=self.bus,
            event_pattern=INLET_EVENT_PATTERN,
            # An event EventBridge could not put on the queue (after its own retries, for up to
            # a day) lands in the same DLQ, in the same shape, and raises the same alarm.
            targets=[targets.SqsQueue(queue, dead_letter_queue=dead_letters)],
        )
        pin_logical_id(rule, LOGICAL_IDS["webhook_rule"])
        return WebhookQueue(queue, dead_letters, secret)
