"""What each deployment unit (one construct in infra/constructs/) takes from an environment.

EnvironmentConfig (infra/config.py) keeps the flat fields operators edit and builds one of
these per unit, so a construct receives its share of the environment as a single prop and
never the whole environment. Plain values only: the constructs turn them into CDK types.
"""

from dataclasses import dataclass
from typing import Literal

Architecture = Literal["ARM64", "X86_64"]


@dataclass(frozen=True, kw_only=True)
class NetworkConfig:
    # Fixed in the environment so that synthesis never asks EC2 which zones exist.
    availability_zones: tuple[str, ...]
    nat_gateways: int
    cidr: str
    flow_log_retention_days: int


@dataclass(frozen=True, kw_only=True)
class StorageConfig:
    # Retain the stateful resources (and protect the table) when the stack is deleted.
    production: bool
    expiry_backstop_days: int
    noncurrent_version_days: int
    access_log_days: int


@dataclass(frozen=True, kw_only=True)
class SecretsConfig:
    environment: str
    # The host name the certificate must be for (the MX host), named in the secret's description.
    hostname: str
    # The credentials secret exists only with the submission port.
    submission_port_enabled: bool
    # Retain the secrets when the stack is deleted (as the other stateful resources).
    production: bool


@dataclass(frozen=True, kw_only=True)
class RelayServiceConfig:
    architecture: Architecture
    cpu: int
    memory_mib: int
    min_tasks: int
    max_tasks: int
    cpu_target_percent: int
    domains: tuple[str, ...]
    hostname: str
    max_message_size: int
    drain_seconds: int
    # Past the drain deadline, so the relay can write its last metrics before SIGKILL.
    stop_timeout_seconds: int
    submission_port_enabled: bool
    # INLET_SECRETS_REFRESH: how soon a renewed certificate or rotated credentials take effect.
    secrets_refresh_seconds: int
    log_retention_days: int
    deletion_protection: bool


@dataclass(frozen=True, kw_only=True)
class FunctionsConfig:
    # The Authentication-Results authserv-id of the parse function's verdicts: the relay's name.
    hostname: str
    retention_days: int
    # The INLET_RETENTION_OVERRIDES value, e.g. `legal.example.com=3650,tmp.example.com=7`.
    retention_overrides: str
    retention_schedule: str
    parse_reserved_concurrency: int
    index_reserved_concurrency: int
    retention_reserved_concurrency: int
    webhook_reserved_concurrency: int
    # The webhook function's INLET_WEBHOOK_URL and INLET_WEBHOOK_RETRY_SECONDS (None: no function).
    webhook_url: str | None
    webhook_retry_seconds: int
    log_retention_days: int


@dataclass(frozen=True, kw_only=True)
class MonitoringConfig:
    environment: str
    alarm_emails: tuple[str, ...]
    refusal_alarm_percent: int
    queue_age_alarm_seconds: int


@dataclass(frozen=True, kw_only=True)
class EventsConfig:
    # The bus is named `inlet-<environment>`: consumers' rules and `inlet replay` name it.
    bus_name: str
    archive_days: int
    # Retain the bus, its archive and the webhook's secret and queues with the stack.
    production: bool
    # The optional webhook: its URL (https) and the first retry delay (INLET_WEBHOOK_RETRY_SECONDS).
    webhook_url: str | None
    webhook_retry_seconds: int
