"""What the three Lambdas share: configuration read once per cold start, and S3 event keys."""

import functools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import unquote_plus

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.utilities.data_classes import S3Event
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from inlet import keys
from inlet import settings as config
from inlet.blobstore import BlobStore
from inlet.errors import ConfigError
from inlet.index import Index
from inlet.retention import RetentionPolicy
from inlet.stores import open_blob_store, open_index

# The only key a message id has under each prefix the functions are notified about.
_KEY_OF = {keys.RAW_PREFIX: keys.raw_key, keys.PARSED_PREFIX: keys.parsed_key}


@dataclass(frozen=True, slots=True)
class Environment:
    store: BlobStore
    index: Index
    policy: RetentionPolicy


@functools.cache
def environment() -> Environment:
    """Built on first use from INLET_* variables (set by the CDK app); a missing bucket or
    table is a ConfigError, which fails every invocation loudly rather than losing events."""
    settings = config.load("tool", {}, os.environ)
    if not settings.bucket or not settings.table:
        raise ConfigError("INLET_BUCKET and INLET_TABLE must be set for the functions")
    return Environment(
        store=open_blob_store(bucket=settings.bucket, data_dir=settings.data_dir),
        index=open_index(table=settings.table, data_dir=settings.data_dir),
        policy=RetentionPolicy.from_settings(settings),
    )


def route_core_logs(logger: Logger) -> None:
    """The core logs through `logging.getLogger(__name__)`; give it Powertools' JSON format."""
    copy_config_to_registered_loggers(source_logger=logger, include={"inlet"})


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
        message_id = keys.id_from_key(key)
        try:
            valid = key == _KEY_OF[prefix](message_id)
        except ValueError:
            valid = False
        if not valid:
            logger.warning("unexpected key; ignored", key=key[:200])
            continue
        yield message_id
