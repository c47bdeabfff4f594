"""Decoding the functions' events: S3 object notifications delivered through SQS."""

from collections.abc import Iterator
from urllib.parse import unquote_plus

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes import S3Event
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from inlet import keys


def created_ids(record: SQSRecord, prefix: str, logger: Logger) -> Iterator[str]:
    """Message ids of the objects an SQS-delivered S3 notification reports under `prefix`.

    S3's test event (sent when notifications are configured) has no records; a key that is
    not one of ours is logged and skipped, since retrying it could never succeed.
    """
    body = record.json_body
    if not isinstance(body, dict) or "Records" not in body:
        logger.info("not an S3 object event; ignored", event_kind=str(body)[:80])
        return
    for s3_record in S3Event(body).records:
        key = unquote_plus(s3_record.s3.get_object.key)  # S3 event keys are URL-encoded
        message_id = keys.message_id_of(key, prefix)
        if message_id is None:
            logger.warning("unexpected key; ignored", key=key[:200])
            continue
        yield message_id
