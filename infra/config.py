"""The deployment environments, written in code: one frozen EnvironmentConfig per environment.

Operators edit this file: put your account, region, availability zones, domains, MX host name
and alarm addresses in STAGING and PRODUCTION (the values below are examples), or add an
environment to ENVIRONMENTS. `cdk synth --context env=<name>` selects one; infra/app.py is the
only reader of that context.

Everything that would otherwise need an AWS lookup at synth time (availability zones above all)
is fixed here, so synthesis runs offline: no credentials, no Docker.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from urllib.parse import urlsplit

from infra.units import (
    Architecture,
    EventsConfig,
    FunctionsConfig,
    MonitoringConfig,
    NetworkConfig,
    RelayServiceConfig,
    SecretsConfig,
    StorageConfig,
)
from inlet.webhook.schedule import RETRY_SECONDS

# CloudWatch Logs accepts only these retention periods (days).
LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
)  # fmt: skip
# Fargate's valid CPU units → memory sizes (MiB) for the task sizes the relay can sensibly use.
_FARGATE_MEMORY = {
    256: range(512, 2048 + 1, 512),
    512: range(1024, 4096 + 1, 1024),
    1024: range(2048, 8192 + 1, 1024),
    2048: range(4096, 16384 + 1, 1024),
    4096: range(8192, 30720 + 1, 1024),
}
# The ECS stop timeout may not exceed 120 s on Fargate; the relay needs its drain deadline plus a
# few seconds to write its last metrics and exit.
STOP_TIMEOUT_MARGIN_SECONDS = 15
MAX_STOP_TIMEOUT_SECONDS = 120
# Each relay task reads its secrets once per interval (one GetSecretValue each): a minute at the
# least, so the calls stay few; an hour at the most, so a renewed certificate is in use soon.
SECRETS_REFRESH_RANGE = range(60, 3600 + 1)
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class UnknownEnvironment(ValueError):
    """No environment of that name (or none given); the message lists the valid ones."""


@dataclass(frozen=True, kw_only=True)
class EnvironmentConfig:
    """One deployment environment. Every field is read by the CDK app only; the relay and the
    functions receive what they need as INLET_* variables. The flat fields are what operators
    edit; the properties at the end hand each construct its share (infra/units.py)."""

    name: str
    # None: account-agnostic templates (deploy to whatever account the CLI's credentials name).
    account: str | None
    region: str
    # Fixed here so that synthesis never asks EC2 which zones exist (at least two).
    availability_zones: tuple[str, ...]
    nat_gateways: int
    vpc_cidr: str = "10.40.0.0/16"

    # Recipient domains the relay accepts (INLET_DOMAINS) and the host name it greets with and
    # writes in the trace header (INLET_HOSTNAME): the name your MX records point at.
    domains: tuple[str, ...]
    hostname: str

    relay_architecture: Architecture = "ARM64"
    relay_cpu: int = 512
    relay_memory_mib: int = 1024
    relay_min_tasks: int = 2
    relay_max_tasks: int = 4
    relay_cpu_target_percent: int = 60
    # Also listen on 587 (submission) with the same relay; 25 is always on. The credentials
    # come from a Secrets Manager secret of the storage stack (docs/deploy.md).
    submission_port_enabled: bool = False
    # Seconds between the relay's rereads of its secrets (the STARTTLS certificate and key, the
    # submission credentials): a renewal or rotation is in use this long after it was stored.
    secrets_refresh_seconds: int = 300
    max_message_size: int = 41_943_040  # 40 MiB, the relay's default
    # How long sessions in DATA may finish after SIGTERM; the NLB's deregistration delay equals
    # it and the task's stop timeout exceeds it.
    drain_seconds: int = 30

    parse_reserved_concurrency: int = 10
    index_reserved_concurrency: int = 10
    # One retention run at a time: overlapping runs would only race each other.
    retention_reserved_concurrency: int = 1

    retention_days: int = 365
    # Per recipient domain, e.g. (("legal.example.com", 3650),): INLET_RETENTION_OVERRIDES.
    retention_overrides: tuple[tuple[str, int], ...] = ()
    # An EventBridge schedule expression; daily at 03:15 UTC by default.
    retention_schedule: str = "cron(15 3 * * ? *)"
    # Days a deleted or overwritten object version stays recoverable (the bucket is versioned,
    # so a retention delete only hides the current version until then).
    noncurrent_version_days: int = 7
    # Margin of the S3 expiry backstop past the longest retention period. S3 knows nothing of
    # legal holds: a message still held that long after its period is expired by S3 as well.
    expiry_backstop_margin_days: int = 30
    log_retention_days: int = 30

    # Days the bus's archive keeps every Inlet event (EventBridge can replay a time window
    # from it); `inlet replay` re-emits from the stored documents and needs no archive.
    event_archive_days: int = 30
    # A webhook for this environment: every event POSTed, signed (docs/integrations.md), by
    # the webhook function; https only. None: events stay on the bus for your own rules.
    webhook_url: str | None = None
    # The first retry delay of a failed delivery, doubling up to an hour, for 24 hours.
    webhook_retry_seconds: int = 30
    webhook_reserved_concurrency: int = 2

    alarm_emails: tuple[str, ...] = ()
    # Alarm when more than this share of SMTP replies are refusals (4xx and 5xx).
    refusal_alarm_percent: int = 50
    # Alarm when the oldest message in the parse or index queue is older than this.
    queue_age_alarm_seconds: int = 900

    # Production: deletion protection, stateful resources retained when the stack is deleted.
    production: bool = False

    def __post_init__(self) -> None:
        problems = self._problems()
        if problems:
            raise ValueError(f"environment {self.name!r}: " + "; ".join(problems))

    def _problems(self) -> list[str]:
        found: list[str] = []
        if len(self.availability_zones) < 2:
            found.append("availability_zones needs at least two zones")
        found += [
            f"availability zone {az!r} is not in {self.region}"
            for az in self.availability_zones
            if not az.startswith(self.region)
        ]
        # At least one: the tasks reach ECR, KMS and CloudWatch Logs through NAT.
        if not 1 <= self.nat_gateways <= len(self.availability_zones):
            found.append("nat_gateways must be between 1 and the number of zones")
        if not self.domains:
            found.append("domains is empty (the relay would accept nothing)")
        found += [
            f"{d!r} is not a lowercase domain name"
            for d in (*self.domains, self.hostname)
            if not _DOMAIN.match(d)
        ]
        if self.relay_architecture not in ("ARM64", "X86_64"):
            found.append("relay_architecture must be ARM64 or X86_64")
        if self.relay_memory_mib not in _FARGATE_MEMORY.get(self.relay_cpu, ()):
            found.append(
                f"relay_cpu {self.relay_cpu} with {self.relay_memory_mib} MiB is no Fargate size"
            )
        if not 1 <= self.relay_min_tasks <= self.relay_max_tasks:
            found.append("relay tasks: need 1 <= relay_min_tasks <= relay_max_tasks")
        if self.secrets_refresh_seconds not in SECRETS_REFRESH_RANGE:
            found.append(
                f"secrets_refresh_seconds must be {SECRETS_REFRESH_RANGE.start}.."
                f"{SECRETS_REFRESH_RANGE.stop - 1}"
            )
        if self.stop_timeout_seconds > MAX_STOP_TIMEOUT_SECONDS or self.drain_seconds < 1:
            found.append(
                f"drain_seconds must be 1..{MAX_STOP_TIMEOUT_SECONDS - STOP_TIMEOUT_MARGIN_SECONDS}"
                " (the Fargate stop timeout is at most 120 s)"
            )
        # The SQS event sources are capped at the reserved concurrency; their minimum is 2.
        if min(self.parse_reserved_concurrency, self.index_reserved_concurrency) < 2:
            found.append("parse and index reserved concurrency must be at least 2")
        if self.retention_reserved_concurrency < 1:
            found.append("retention reserved concurrency must be at least 1")
        if self.retention_days < 0 or any(days < 0 for _, days in self.retention_overrides):
            found.append("retention days cannot be negative")
        found += [
            f"retention override domain {d!r} is not a domain name"
            for d, _ in self.retention_overrides
            if not _DOMAIN.match(d)
        ]
        if not re.match(r"^(cron|rate)\(.+\)$", self.retention_schedule):
            found.append("retention_schedule must be an EventBridge cron(...) or rate(...)")
        if self.log_retention_days not in LOG_RETENTION_DAYS:
            found.append(f"log_retention_days must be one of {LOG_RETENTION_DAYS}")
        if self.noncurrent_version_days < 1 or self.expiry_backstop_margin_days < 1:
            found.append("noncurrent_version_days and expiry_backstop_margin_days must be >= 1")
        found += [
            f"{e!r} is not an email address" for e in self.alarm_emails if not _EMAIL.match(e)
        ]
        if self.event_archive_days < 1:
            found.append("event_archive_days must be at least 1")
        found += self._webhook_problems()
        return found

    def _webhook_problems(self) -> list[str]:
        found: list[str] = []
        if self.webhook_url is not None:
            parts = urlsplit(self.webhook_url)
            # The body is mail metadata (addresses, subjects): never in clear over the internet.
            if parts.scheme != "https" or not parts.hostname:
                found.append(f"webhook_url must be an https:// URL, got {self.webhook_url!r}")
        if self.webhook_retry_seconds not in RETRY_SECONDS:
            found.append(
                f"webhook_retry_seconds must be {RETRY_SECONDS.start}..{RETRY_SECONDS.stop - 1}"
            )
        if self.webhook_reserved_concurrency < 2:
            found.append("webhook_reserved_concurrency must be at least 2")
        return found

    @property
    def stop_timeout_seconds(self) -> int:
        return self.drain_seconds + STOP_TIMEOUT_MARGIN_SECONDS

    @property
    def longest_retention_days(self) -> int:
        return max((self.retention_days, *(days for _, days in self.retention_overrides)))

    @property
    def expiry_backstop_days(self) -> int:
        """When S3 itself expires objects, whatever the retention function did: past the
        longest period any domain asks for, plus a margin for a retention run that failed."""
        return self.longest_retention_days + self.expiry_backstop_margin_days

    @property
    def retention_overrides_value(self) -> str:
        """The INLET_RETENTION_OVERRIDES value, e.g. `legal.example.com=3650,tmp.example.com=7`."""
        return ",".join(f"{domain}={days}" for domain, days in self.retention_overrides)

    @property
    def stack_prefix(self) -> str:
        return f"Inlet-{self.name}"

    # -- each construct's share ------------------------------------------------------------

    @property
    def network(self) -> NetworkConfig:
        return NetworkConfig(
            availability_zones=self.availability_zones,
            nat_gateways=self.nat_gateways,
            cidr=self.vpc_cidr,
            flow_log_retention_days=self.log_retention_days,
        )

    @property
    def storage(self) -> StorageConfig:
        return StorageConfig(
            production=self.production,
            expiry_backstop_days=self.expiry_backstop_days,
            noncurrent_version_days=self.noncurrent_version_days,
            access_log_days=max(90, self.log_retention_days),
        )

    @property
    def relay_service(self) -> RelayServiceConfig:
        return RelayServiceConfig(
            architecture=self.relay_architecture,
            cpu=self.relay_cpu,
            memory_mib=self.relay_memory_mib,
            min_tasks=self.relay_min_tasks,
            max_tasks=self.relay_max_tasks,
            cpu_target_percent=self.relay_cpu_target_percent,
            domains=self.domains,
            hostname=self.hostname,
            max_message_size=self.max_message_size,
            drain_seconds=self.drain_seconds,
            stop_timeout_seconds=self.stop_timeout_seconds,
            submission_port_enabled=self.submission_port_enabled,
            secrets_refresh_seconds=self.secrets_refresh_seconds,
            log_retention_days=self.log_retention_days,
            deletion_protection=self.production,
        )

    @property
    def secrets(self) -> SecretsConfig:
        return SecretsConfig(
            environment=self.name,
            hostname=self.hostname,
            submission_port_enabled=self.submission_port_enabled,
            production=self.production,
        )

    @property
    def functions(self) -> FunctionsConfig:
        return FunctionsConfig(
            hostname=self.hostname,
            retention_days=self.retention_days,
            retention_overrides=self.retention_overrides_value,
            retention_schedule=self.retention_schedule,
            parse_reserved_concurrency=self.parse_reserved_concurrency,
            index_reserved_concurrency=self.index_reserved_concurrency,
            retention_reserved_concurrency=self.retention_reserved_concurrency,
            webhook_reserved_concurrency=self.webhook_reserved_concurrency,
            webhook_url=self.webhook_url,
            webhook_retry_seconds=self.webhook_retry_seconds,
            log_retention_days=self.log_retention_days,
        )

    @property
    def events(self) -> EventsConfig:
        return EventsConfig(
            bus_name=f"inlet-{self.name}",
            archive_days=self.event_archive_days,
            production=self.production,
            webhook_url=self.webhook_url,
            webhook_retry_seconds=self.webhook_retry_seconds,
        )

    @property
    def monitoring(self) -> MonitoringConfig:
        return MonitoringConfig(
            environment=self.name,
            alarm_emails=self.alarm_emails,
            refusal_alarm_percent=self.refusal_alarm_percent,
            queue_age_alarm_seconds=self.queue_age_alarm_seconds,
        )


STAGING = EnvironmentConfig(
    name="staging",
    account=None,
    region="us-east-1",
    availability_zones=("us-east-1a", "us-east-1b"),
    # One NAT gateway: cheaper, and a zone outage in staging only costs egress from one zone.
    nat_gateways=1,
    domains=("staging.example.com",),
    hostname="mx.staging.example.com",
    relay_cpu=256,
    relay_memory_mib=512,
    relay_min_tasks=1,
    relay_max_tasks=2,
    submission_port_enabled=False,
    parse_reserved_concurrency=5,
    index_reserved_concurrency=5,
    retention_days=30,
    retention_overrides=(("tmp.staging.example.com", 7),),
    noncurrent_version_days=1,
    expiry_backstop_margin_days=7,
    log_retention_days=14,
    event_archive_days=7,
    alarm_emails=(),
    production=False,
)

PRODUCTION = EnvironmentConfig(
    name="production",
    account=None,
    region="eu-west-1",
    availability_zones=("eu-west-1a", "eu-west-1b", "eu-west-1c"),
    # One NAT gateway per zone: a zone outage does not cut the other zones' egress.
    nat_gateways=3,
    domains=("example.com", "legal.example.com"),
    hostname="mx.example.com",
    relay_cpu=1024,
    relay_memory_mib=2048,
    relay_min_tasks=2,
    relay_max_tasks=8,
    submission_port_enabled=True,
    parse_reserved_concurrency=50,
    index_reserved_concurrency=25,
    retention_days=365,
    retention_overrides=(("legal.example.com", 3650),),
    noncurrent_version_days=30,
    expiry_backstop_margin_days=30,
    log_retention_days=365,
    event_archive_days=90,
    alarm_emails=("ops@example.com",),
    production=True,
)

ENVIRONMENTS: Mapping[str, EnvironmentConfig] = MappingProxyType(
    {config.name: config for config in (STAGING, PRODUCTION)}
)


def config_for(name: str | None) -> EnvironmentConfig:
    """The environment called `name`; UnknownEnvironment (listing the valid names) otherwise."""
    valid = ", ".join(sorted(ENVIRONMENTS))
    if not name:
        raise UnknownEnvironment(
            f"no environment given: pass --context env=<{valid.replace(', ', '|')}>"
        )
    try:
        return ENVIRONMENTS[name]
    except KeyError:
        raise UnknownEnvironment(
            f"unknown environment {name!r}: valid environments are {valid}"
        ) from None
