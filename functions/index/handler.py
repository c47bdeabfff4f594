"""index: S3 ObjectCreated(parsed/) via SQS → index records (DynamoDB).

Every document is indexed, quarantined ones too (by their envelope), so every message stays
findable, and then its event goes to the bus (INLET_EVENT_BUS). Writing the same records twice
is harmless: delivery is at least once. An event the bus would not take fails the record
(counted as EventsFailed), so SQS delivers it again and, after its last attempt, the index DLQ
and its alarm hold it: an event is never lost without that trail.
"""

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
from inlet.events import EventsUnavailable, NoEvents
from inlet.pipeline import index_parsed

logger = Logger(service=m.INDEX_SERVICE)
metrics = Metrics(namespace=m.NAMESPACE, service=m.INDEX_SERVICE)
processor = BatchProcessor(event_type=EventType.SQS)
route_core_logs(logger)


def record_handler(record: SQSRecord) -> None:
    env = environment()
    for message_id in created_ids(record, keys.PARSED_PREFIX, logger):
        try:
            document = index_parsed(env.messages, env.index, message_id, events=env.events)
        except NotFoundError:
            logger.warning("document gone before indexing", message_id=message_id)
            continue
        except EventsUnavailable:
            metrics.add_metric(name=m.EVENTS_FAILED, unit=MetricUnit.Count, value=1)
            raise
        metrics.add_metric(name=m.MESSAGES_INDEXED, unit=MetricUnit.Count, value=1)
        if not isinstance(env.events, NoEvents):
            metrics.add_metric(name=m.EVENTS_PUBLISHED, unit=MetricUnit.Count, value=1)
        logger.info("indexed", message_id=message_id, status=document["status"])


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    metrics.add_metric(name=m.EVENTS_RECEIVED, unit=MetricUnit.Count, value=len(event["Records"]))
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
