"""webhook: Inlet events (the bus's rule → the webhook queue) → a signed POST to the webhook.

The same request `inlet up` sends (inlet.webhook.send): the event in Inlet's shape, signed with
the key from Secrets Manager as it is sent. A failed delivery is retried on the schedule of
inlet.webhook.schedule: the message's visibility is set to the next delay, and the queue's
maxReceiveCount (the schedule's attempts within 24 hours) moves it to the DLQ after the last
one, where its alarm fires and `inlet replay --id` (or a DLQ redrive) sends it again.
"""

import time
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions import metrics as m
from functions.webhook.target import target
from inlet.errors import PermanentError, TransientError
from inlet.eventbridge import event_of_delivered
from inlet.webhook.schedule import retry_delay
from inlet.webhook.send import attempt, host_of

logger = Logger(service=m.WEBHOOK_SERVICE)
metrics = Metrics(namespace=m.NAMESPACE, service=m.WEBHOOK_SERVICE)
# Every record failing is the receiver being down, not a fault of the function: the response
# lists them all (each already has its retry delay) instead of the invocation failing.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


class WebhookFailed(TransientError):
    """The receiver did not take the event; the message is retried after its delay."""


def record_handler(record: SQSRecord) -> None:
    hook = target()
    try:
        event = event_of_delivered(record.json_body)
    except (PermanentError, ValueError) as exc:  # not JSON, or not ours: retrying cannot help
        logger.warning("not an Inlet event; dropped", extra={"reason": str(exc)[:200]})
        return
    outcome = attempt(hook.url, hook.secret(), event, now=int(time.time()))
    tries = int(record.attributes.approximate_receive_count)
    fields = {"event_id": event["id"], "host": host_of(hook.url), "attempt": tries}
    if outcome.error is None:
        metrics.add_metric(name=m.WEBHOOKS_DELIVERED, unit=MetricUnit.Count, value=1)
        logger.info("webhook delivered", extra={**fields, "status": outcome.status})
        return
    if tries >= hook.attempts:
        metrics.add_metric(name=m.WEBHOOKS_FAILED, unit=MetricUnit.Count, value=1)
        logger.error("webhook gave up: to the DLQ", extra={**fields, "error": outcome.error})
        raise WebhookFailed(outcome.error)
    delay = retry_delay(hook.retry_seconds, tries)
    hook.sqs.change_message_visibility(
        QueueUrl=hook.queue_url(record.event_source_arn),
        ReceiptHandle=record.receipt_handle,
        VisibilityTimeout=delay,
    )
    metrics.add_metric(name=m.WEBHOOK_RETRIES, unit=MetricUnit.Count, value=1)
    logger.warning(
        "webhook failed, will retry",
        extra={**fields, "error": outcome.error, "retry_in_seconds": delay},
    )
    raise WebhookFailed(outcome.error)


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    metrics.add_metric(name=m.EVENTS_RECEIVED, unit=MetricUnit.Count, value=len(event["Records"]))
    # Configuration and key first: a ConfigError fails the invocation (the Errors alarm) rather
    # than every record quietly, which the batch would only report as item failures.
    target().secret()
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
