"""The functions' environment: adapters and policy, built once per cold start from INLET_*
variables (set by the CDK app) through the same wiring as the CLI."""

import functools
import os
from dataclasses import dataclass

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers

from inlet import settings as config
from inlet.cli.wiring import open_adapters
from inlet.errors import ConfigError
from inlet.events import EventSink
from inlet.index import Index
from inlet.message_store import MessageStore
from inlet.pipeline import Verdicts
from inlet.retention_policy import RetentionPolicy


@dataclass(frozen=True, slots=True)
class Environment:
    messages: MessageStore
    index: Index
    policy: RetentionPolicy
    verdicts: Verdicts
    events: EventSink


@functools.cache
def environment() -> Environment:
    """Built on first use; a missing bucket or table is a ConfigError, which fails every
    invocation loudly rather than losing events."""
    settings = config.load("tool", {}, os.environ)
    if not settings.bucket or not settings.table:
        raise ConfigError("INLET_BUCKET and INLET_TABLE must be set for the functions")
    adapters = open_adapters(settings)
    return Environment(
        messages=adapters.messages,
        index=adapters.index,
        policy=RetentionPolicy.from_settings(settings),
        verdicts=adapters.verdicts,
        events=adapters.events,
    )


def route_core_logs(logger: Logger) -> None:
    """The core logs through `logging.getLogger(__name__)`; give it Powertools' JSON format."""
    copy_config_to_registered_loggers(source_logger=logger, include={"inlet"})
