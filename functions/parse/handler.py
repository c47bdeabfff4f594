"""parse: S3 ObjectCreated(raw/) via SQS → parsed/ document and attachments, or quarantine.

A storage fault fails the record (SQS redelivers, then the DLQ); a message that cannot be
parsed is quarantined by the core and counts as done.
"""

from datetime import UTC, datetime
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
from functions.environment import environment, route_core_logs
from functions.events import created_ids
from inlet import keys
from inlet.errors import NotFoundError
from inlet.pipeline import parse_stored

logger = Logger(service=m.PARSE_SERVICE)
metrics = Metrics(namespace=m.NAMESPACE, service=m.PARSE_SERVICE)
processor = BatchProcessor(event_type=EventType.SQS)
route_core_logs(logger)


def record_handler(record: SQSRecord) -> None:
    env = environment()
    for message_id in created_ids(record, keys.RAW_PREFIX, logger):
        try:
            document = parse_stored(
                env.messages, message_id, now=datetime.now(UTC), verdicts=env.verdicts
            )
        except NotFoundError:
            # Removed (by retention) before this delivery: nothing left to do.
            logger.warning("message gone before parsing", message_id=message_id)
            continue
        quarantined = document["status"] == "quarantined"
        metrics.add_metric(
            name=m.MESSAGES_QUARANTINED if quarantined else m.MESSAGES_PARSED,
            unit=MetricUnit.Count,
            value=1,
        )
        logger.info(
            "parsed",
            message_id=message_id,
            status=document["status"],
            attachments=len(document["attachments"]),
            defects=len(document["defects"]),
        )


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    metrics.add_metric(name=m.EVENTS_RECEIVED, unit=MetricUnit.Count, value=len(event["Records"]))
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
