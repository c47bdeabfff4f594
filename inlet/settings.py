"""Configuration: INLET_* environment variables and the same names as CLI flags.

Resolved once at start-up (flag > environment > default for the command) into a frozen
Settings; anything invalid is a ConfigError with a one-line message naming the setting.
"""

import ipaddress
import os
import re
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from inlet.errors import ConfigError
from inlet.webhook.schedule import RETRY_SECONDS

# "tool": the Lambda functions and the CLI's commands other than up/relay; they take the same
# settings but accept no mail, so no domains are required.
Mode = Literal["relay", "up", "tool"]

_DOMAIN = re.compile(r"^(?=.{1,253}$)(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*$")
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


@dataclass(frozen=True, slots=True)
class Option:
    name: str  # the Settings field, the flag (--max-message-size) and the variable (INLET_...)
    help: str
    relay_default: str | None = None
    up_default: str | None = None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def env(self) -> str:
        return "INLET_" + self.name.upper()


OPTIONS: tuple[Option, ...] = (
    Option("domains", "accepted recipient domains, comma-separated", None, "example.com"),
    Option("max_message_size", "largest message accepted, bytes", "41943040", "41943040"),
    Option("max_recipients", "recipients per message", "100", "100"),
    Option("max_sessions", "concurrent SMTP sessions; more get 421", "1000", "100"),
    Option("smtp_host", "SMTP listen address", "0.0.0.0", "127.0.0.1"),
    Option("smtp_port", "SMTP listen port", "25", "2525"),
    Option("health_port", "HTTP /healthz port", "8080", "8025"),
    Option("hostname", "name in the greeting and trace header (default: the host's FQDN)"),
    Option("drain_seconds", "how long sessions in DATA may finish after SIGTERM", "30", "5"),
    Option(
        "command_timeout",
        "idle seconds allowed between commands (RFC 5321 4.5.3.2); then 421 and close",
        "300",
        "300",
    ),
    Option(
        "data_timeout",
        "seconds one DATA phase may take in total, however slowly it trickles; then 421",
        "600",
        "600",
    ),
    Option(
        "store_timeout",
        "seconds from the end of DATA until the store must have confirmed the message; "
        "past it 451, and the attempt is cleaned up",
        "60",
        "60",
    ),
    Option(
        "stall_timeout",
        "seconds a session in DATA may send nothing while it holds memory other sessions "
        "wait for; then 421 and close",
        "10",
        "10",
    ),
    Option(
        "max_sessions_per_ip",
        "concurrent sessions from one client address (the PROXY source when proxied); more get 421",
        "20",
        "20",
    ),
    Option("proxy_protocol", "expect a PROXY header (v1 or v2) on every connection", "off", "off"),
    Option("tls_cert", "STARTTLS certificate chain (PEM file; reread when it changes)"),
    Option("tls_key", "STARTTLS private key (PEM file; reread when it changes)"),
    Option(
        "tls_secret",
        "STARTTLS certificate and key from this Secrets Manager secret (JSON: certificate, "
        "private_key), instead of the files; reread every --secrets-refresh seconds",
    ),
    Option("require_tls", "on: MAIL before STARTTLS gets 530 on the SMTP port", "off", "off"),
    Option(
        "submission_port",
        "also listen for message submission (RFC 6409): STARTTLS, then AUTH, required",
    ),
    Option(
        "auth_file",
        "submission credentials: one user:hash line each (hashes from `inlet auth hash`)",
    ),
    Option(
        "auth_secret",
        "submission credentials from this Secrets Manager secret (the auth file's format), "
        "instead of the file",
    ),
    Option(
        "secrets_refresh",
        "seconds between rereads of the TLS and credential files or secrets (rotation)",
        "300",
        "300",
    ),
    Option(
        "dns_resolver",
        "host[:port] ([v6]:port) of the resolver for SPF/DKIM/DMARC/ARC lookups "
        "(default: the system's)",
    ),
    Option(
        "webhook_url",
        "`inlet up`: POST each event to this http(s) URL, signed with --webhook-secret",
    ),
    Option(
        "webhook_secret",
        "the webhooks' HMAC-SHA256 key, at least 16 characters (prefer the variable: a flag "
        "shows in the process list)",
    ),
    Option(
        "webhook_secret_arn",
        "the webhook function on AWS: the Secrets Manager secret holding the webhooks' key "
        "(set by the CDK app)",
    ),
    Option(
        "webhook_retry_seconds",
        "first retry delay of a failed webhook delivery (then doubling, up to an hour)",
        "30",
        "30",
    ),
    Option("event_bus", "EventBridge bus the events go to (set by the CDK app); unset = none"),
    Option("bucket", "S3 bucket; unset = embedded adapters"),
    Option("table", "DynamoDB table; unset = embedded adapters"),
    Option("data_dir", "embedded adapters' directory", "./inlet-data", "./inlet-data"),
    Option(
        "buffer_budget", "message bytes all sessions may hold in memory", "67108864", "67108864"
    ),
    Option("metrics_interval", "seconds between EMF metric lines", "60", "60"),
    Option("retention_days", "default retention; 0 = expire everything unheld", "365", "365"),
    Option("retention_overrides", "per recipient domain, e.g. legal.example.com=3650"),
    Option("log_level", "DEBUG, INFO, WARNING or ERROR", "INFO", "INFO"),
)


def environment(values: Mapping[str, str]) -> dict[str, str]:
    """`values` by Settings field name, as the INLET_* variables that set them (in the same
    order): how a deployment (the CDK app) configures the relay and the functions without
    spelling a variable name itself. ValueError for a name that is no option."""
    by_name = {opt.name: opt for opt in OPTIONS}
    unknown = [name for name in values if name not in by_name]
    if unknown:
        raise ValueError(
            f"not an inlet setting: {', '.join(map(repr, unknown))} "
            f"(the settings are {', '.join(by_name)})"
        )
    return {by_name[name].env: value for name, value in values.items()}


@dataclass(frozen=True, slots=True)
class Settings:
    domains: tuple[str, ...]
    max_message_size: int
    max_recipients: int
    max_sessions: int
    smtp_host: str
    smtp_port: int
    health_port: int
    hostname: str
    drain_seconds: float
    command_timeout: float
    data_timeout: float
    store_timeout: float
    stall_timeout: float
    max_sessions_per_ip: int
    proxy_protocol: bool
    tls_cert: Path | None
    tls_key: Path | None
    tls_secret: str | None
    require_tls: bool
    submission_port: int | None
    auth_file: Path | None
    auth_secret: str | None
    secrets_refresh: float
    dns_resolver: tuple[str, int] | None
    webhook_url: str | None
    webhook_secret: str | None = field(repr=False)
    webhook_secret_arn: str | None
    webhook_retry_seconds: int
    event_bus: str | None
    bucket: str | None
    table: str | None
    data_dir: Path
    buffer_budget: int
    metrics_interval: float
    retention_days: int
    retention_overrides: Mapping[str, int] = field(default_factory=dict)
    log_level: str = "INFO"


def resolve(
    mode: Mode, flags: Mapping[str, str | None], env: Mapping[str, str] | None = None
) -> dict[str, str | None]:
    """Raw values by option name: flag, else environment, else the command's default."""
    env = os.environ if env is None else env
    raw: dict[str, str | None] = {}
    for opt in OPTIONS:
        value = flags.get(opt.name)
        if value is None:
            value = env.get(opt.env) or None
        if value is None and not (mode == "tool" and opt.name == "domains"):
            value = opt.relay_default if mode == "relay" else opt.up_default
        raw[opt.name] = value
    return raw


def load(
    mode: Mode, flags: Mapping[str, str | None], env: Mapping[str, str] | None = None
) -> Settings:
    raw = resolve(mode, flags, env)

    def name(key: str) -> str:
        opt = next(o for o in OPTIONS if o.name == key)
        return f"{opt.env} ({opt.flag})"

    def integer(key: str, low: int, high: int | None = None) -> int:
        text = raw[key] or ""
        try:
            value = int(text)
        except ValueError:
            raise ConfigError(f"{name(key)} must be a whole number, got {text!r}") from None
        if value < low or (high is not None and value > high):
            bound = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise ConfigError(f"{name(key)} must be {bound}, got {value}")
        return value

    def number(key: str, low: float) -> float:
        text = raw[key] or ""
        try:
            value = float(text)
        except ValueError:
            raise ConfigError(f"{name(key)} must be a number, got {text!r}") from None
        if value < low:
            raise ConfigError(f"{name(key)} must be at least {low}, got {value}")
        return value

    domains = (
        () if mode == "tool" and not raw["domains"] else _domains(raw["domains"], name("domains"))
    )
    tls_cert, tls_key = raw["tls_cert"], raw["tls_key"]
    if bool(tls_cert) != bool(tls_key):
        raise ConfigError(f"{name('tls_cert')} and {name('tls_key')} must be given together")
    for key, path in (("tls_cert", tls_cert), ("tls_key", tls_key)):
        if path and not Path(path).is_file():
            raise ConfigError(f"{name(key)}: no such file {path}")
    level = (raw["log_level"] or "").upper()
    if level not in _LOG_LEVELS:
        raise ConfigError(f"{name('log_level')} must be one of {', '.join(_LOG_LEVELS)}")

    def switch(key: str) -> bool:
        text = (raw[key] or "").lower()
        if text not in ("on", "off", "true", "false", "1", "0", "yes", "no"):
            raise ConfigError(f"{name(key)} must be on or off, got {text!r}")
        return text in ("on", "true", "1", "yes")

    tls_secret, auth_file, auth_secret = raw["tls_secret"], raw["auth_file"], raw["auth_secret"]
    if tls_secret and tls_cert:
        raise ConfigError(f"{name('tls_secret')} and {name('tls_cert')}: give one, not both")
    if auth_secret and auth_file:
        raise ConfigError(f"{name('auth_secret')} and {name('auth_file')}: give one, not both")
    if auth_file and not Path(auth_file).is_file():
        raise ConfigError(f"{name('auth_file')}: no such file {auth_file}")
    has_tls = bool(tls_cert or tls_secret)
    require_tls = switch("require_tls")
    if require_tls and not has_tls:
        raise ConfigError(
            f"{name('require_tls')} needs a certificate: {name('tls_cert')} and "
            f"{name('tls_key')}, or {name('tls_secret')}"
        )
    submission_port = integer("submission_port", 0, 65535) if raw["submission_port"] else None
    if submission_port is not None:
        if not has_tls:
            raise ConfigError(
                f"{name('submission_port')} needs a certificate (STARTTLS comes before AUTH): "
                f"{name('tls_cert')} and {name('tls_key')}, or {name('tls_secret')}"
            )
        if not (auth_file or auth_secret):
            raise ConfigError(
                f"{name('submission_port')} needs credentials: {name('auth_file')} "
                f"or {name('auth_secret')}"
            )
    elif auth_file or auth_secret:
        raise ConfigError(
            f"{name('auth_file')} / {name('auth_secret')} is used only with "
            f"{name('submission_port')}, which is not set"
        )
    webhook_url, webhook_secret = _webhook(raw, name, mode)
    return Settings(
        domains=domains,
        max_message_size=integer("max_message_size", 1024),
        max_recipients=integer("max_recipients", 1, 10000),
        max_sessions=integer("max_sessions", 1),
        smtp_host=raw["smtp_host"] or "",
        smtp_port=integer("smtp_port", 0, 65535),
        health_port=integer("health_port", 0, 65535),
        hostname=raw["hostname"] or socket.getfqdn(),
        drain_seconds=number("drain_seconds", 0),
        command_timeout=number("command_timeout", 1),
        data_timeout=number("data_timeout", 1),
        store_timeout=number("store_timeout", 1),
        stall_timeout=number("stall_timeout", 1),
        max_sessions_per_ip=integer("max_sessions_per_ip", 1),
        proxy_protocol=switch("proxy_protocol"),
        tls_cert=Path(tls_cert) if tls_cert else None,
        tls_key=Path(tls_key) if tls_key else None,
        tls_secret=tls_secret,
        require_tls=require_tls,
        submission_port=submission_port,
        auth_file=Path(auth_file) if auth_file else None,
        auth_secret=auth_secret,
        secrets_refresh=number("secrets_refresh", 1),
        dns_resolver=_resolver(raw["dns_resolver"], name("dns_resolver")),
        webhook_url=webhook_url,
        webhook_secret=webhook_secret,
        webhook_secret_arn=raw["webhook_secret_arn"],
        webhook_retry_seconds=integer(
            "webhook_retry_seconds", RETRY_SECONDS.start, RETRY_SECONDS.stop - 1
        ),
        event_bus=raw["event_bus"],
        bucket=raw["bucket"],
        table=raw["table"],
        data_dir=Path(raw["data_dir"] or "./inlet-data"),
        buffer_budget=integer("buffer_budget", 1 << 20),
        metrics_interval=number("metrics_interval", 1),
        retention_days=integer("retention_days", 0),
        retention_overrides=_overrides(raw["retention_overrides"], name("retention_overrides")),
        log_level=level,
    )


MIN_WEBHOOK_SECRET = 16


def _webhook(
    raw: Mapping[str, str | None], name: Callable[[str], str], mode: Mode
) -> tuple[str | None, str | None]:
    """The webhook URL and its secret: an absolute http(s) URL, and a secret with it (every
    request is signed; an unsigned webhook could be forged by anyone who finds the URL). The
    webhook function on AWS names a Secrets Manager secret instead of holding the key."""
    url, secret, arn = raw["webhook_url"], raw["webhook_secret"], raw["webhook_secret_arn"]
    if not url:
        for given in ("webhook_secret", "webhook_secret_arn"):
            if raw[given]:
                raise ConfigError(f"{name(given)} is set but {name('webhook_url')} is not")
        return None, None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"{name('webhook_url')}: expected an http:// or https:// URL, got {url!r}"
        )
    if arn:
        if secret:
            raise ConfigError(
                f"{name('webhook_secret')} and {name('webhook_secret_arn')}: give one, not both"
            )
        if mode != "tool":
            raise ConfigError(
                f"{name('webhook_secret_arn')} is read by the webhook function on AWS only; "
                f"give {name('webhook_secret')} here"
            )
        return url, None
    if not secret or len(secret) < MIN_WEBHOOK_SECRET:
        raise ConfigError(
            f"{name('webhook_url')} needs {name('webhook_secret')}: at least "
            f"{MIN_WEBHOOK_SECRET} characters (receivers verify every request with it)"
        )
    return url, secret


def _domains(text: str | None, label: str) -> tuple[str, ...]:
    if not text or not text.strip():
        raise ConfigError(
            f"{label} is required: the domains to accept mail for (never an open relay)"
        )
    domains = tuple(d.strip().lower().rstrip(".") for d in text.split(",") if d.strip())
    for domain in domains:
        try:
            ascii_name = domain.encode("idna").decode("ascii")
        except UnicodeError:
            ascii_name = ""
        if not _DOMAIN.match(ascii_name):
            raise ConfigError(f"{label}: {domain!r} is not a domain name")
    return domains


def _resolver(text: str | None, label: str) -> tuple[str, int] | None:
    """`192.0.2.53`, `192.0.2.53:5353`, `2001:db8::53` or `[2001:db8::53]:5353`: an address,
    not a name (the resolver is what would look a name up)."""
    if not text or not text.strip():
        return None
    text = text.strip()
    host, port = text, "53"
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ConfigError(f"{label}: expected [address]:port, got {text!r}")
        port = rest[1:] if rest else "53"
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ConfigError(
            f"{label}: {host!r} is not an IP address (the resolver's address, e.g. 127.0.0.1:53)"
        ) from None
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{label}: port must be 1 to 65535, got {port!r}")
    return str(address), int(port)


def _overrides(text: str | None, label: str) -> dict[str, int]:
    result: dict[str, int] = {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        domain, sep, days = item.partition("=")
        if not sep or not days.strip().isdigit():
            raise ConfigError(f"{label}: expected domain=days, got {item.strip()!r}")
        result[_domains(domain, label)[0]] = int(days)
    return result
