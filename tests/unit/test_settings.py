from pathlib import Path

import pytest

from inlet.errors import ConfigError
from inlet.settings import load

pytestmark = pytest.mark.unit


def test_relay_requires_domains_and_never_defaults_to_open_relay() -> None:
    with pytest.raises(ConfigError, match=r"INLET_DOMAINS \(--domains\) is required"):
        load("relay", {}, env={})


def test_up_has_local_defaults() -> None:
    s = load("up", {}, env={})
    assert s.domains == ("example.com",)
    assert (s.smtp_host, s.smtp_port, s.health_port) == ("127.0.0.1", 2525, 8025)
    assert s.data_dir == Path("./inlet-data")
    assert s.max_message_size == 40 * 1024 * 1024
    assert s.bucket is None


def test_flag_beats_environment_beats_default() -> None:
    env = {"INLET_DOMAINS": "a.example, B.example.", "INLET_MAX_RECIPIENTS": "7"}
    s = load("relay", {"max_recipients": "9"}, env=env)
    assert s.domains == ("a.example", "b.example")
    assert s.max_recipients == 9
    assert (s.smtp_host, s.smtp_port) == ("0.0.0.0", 25)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"INLET_MAX_MESSAGE_SIZE": "big"},
            r"INLET_MAX_MESSAGE_SIZE \(--max-message-size\) must be a whole number",
        ),
        ({"INLET_SMTP_PORT": "70000"}, "must be between 0 and 65535"),
        ({"INLET_DOMAINS": "not a domain"}, "is not a domain name"),
        ({"INLET_TLS_CERT": "/nonexistent.pem"}, "must be given together"),
        ({"INLET_LOG_LEVEL": "LOUD"}, "must be one of"),
        ({"INLET_PROXY_PROTOCOL": "maybe"}, "must be on or off"),
        ({"INLET_RETENTION_OVERRIDES": "a.example"}, "expected domain=days"),
        ({"INLET_REQUIRE_TLS": "on"}, r"INLET_REQUIRE_TLS \(--require-tls\) needs a certificate"),
        ({"INLET_REQUIRE_TLS": "sometimes"}, "must be on or off"),
        ({"INLET_SUBMISSION_PORT": "587"}, "needs a certificate"),
        ({"INLET_TLS_SECRET": "tls", "INLET_SUBMISSION_PORT": "587"}, "needs credentials"),
        ({"INLET_AUTH_FILE": "/nonexistent"}, "no such file"),
        ({"INLET_AUTH_SECRET": "users"}, "used only with INLET_SUBMISSION_PORT"),
        ({"INLET_AUTH_SECRET": "u", "INLET_AUTH_FILE": "/etc/hostname"}, "give one, not both"),
        ({"INLET_MAX_SESSIONS_PER_IP": "0"}, "must be at least 1"),
    ],
)
def test_bad_values_give_one_line_naming_the_setting(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        load("up", {}, env=env)
    assert "\n" not in str(info.value)


def test_retention_overrides_parse() -> None:
    s = load("up", {"retention_overrides": "legal.example.com=3650, tmp.example.com=7"}, env={})
    assert s.retention_overrides == {"legal.example.com": 3650, "tmp.example.com": 7}


def test_submission_with_a_secret_for_tls_and_credentials() -> None:
    env = {"INLET_TLS_SECRET": "inlet/tls", "INLET_SUBMISSION_PORT": "587"}
    s = load("relay", {"domains": "example.com"}, env={**env, "INLET_AUTH_SECRET": "inlet/auth"})
    assert (s.submission_port, s.tls_secret, s.auth_secret) == (587, "inlet/tls", "inlet/auth")
    assert (s.max_sessions_per_ip, s.require_tls, s.secrets_refresh) == (20, False, 300)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", None),
        ("192.0.2.53", ("192.0.2.53", 53)),
        ("127.0.0.1:5353", ("127.0.0.1", 5353)),
        ("2001:db8::53", ("2001:db8::53", 53)),
        ("[2001:db8::53]:5353", ("2001:db8::53", 5353)),
        ("[::1]", ("::1", 53)),
    ],
)
def test_the_dns_resolver_is_an_address_with_an_optional_port(
    value: str, expected: tuple[str, int] | None
) -> None:
    assert load("up", {}, env={"INLET_DNS_RESOLVER": value}).dns_resolver == expected
    assert load("tool", {"dns_resolver": value or None}, env={}).dns_resolver == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("dns.example.com", r"'dns.example.com' is not an IP address"),
        ("127.0.0.1:0", "port must be 1 to 65535"),
        ("127.0.0.1:dns", "port must be 1 to 65535"),
        ("[::1]5353", r"expected \[address\]:port"),
    ],
)
def test_a_bad_dns_resolver_is_refused_with_the_setting_named(value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=rf"INLET_DNS_RESOLVER \(--dns-resolver\): {message}"):
        load("up", {}, env={"INLET_DNS_RESOLVER": value})


SECRET = "s3cret-s3cret-s3cret"
ARN = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:inlet-webhook-AbCdEf"


def test_a_webhook_is_an_http_url_with_a_secret_and_a_retry_delay() -> None:
    s = load(
        "up",
        {},
        env={"INLET_WEBHOOK_URL": "https://hooks.example/in", "INLET_WEBHOOK_SECRET": SECRET},
    )
    assert (s.webhook_url, s.webhook_secret, s.webhook_retry_seconds) == (
        "https://hooks.example/in",
        SECRET,
        30,
    )
    assert SECRET not in repr(s)
    assert load("up", {}, env={}).webhook_url is None


def test_the_webhook_function_names_a_secret_instead_of_holding_it() -> None:
    url = {"INLET_WEBHOOK_URL": "https://hooks.example/in"}
    s = load("tool", {}, env={**url, "INLET_WEBHOOK_SECRET_ARN": ARN})
    assert (s.webhook_url, s.webhook_secret, s.webhook_secret_arn) == (
        url["INLET_WEBHOOK_URL"],
        None,
        ARN,
    )
    with pytest.raises(ConfigError, match="give one, not both"):
        load(
            "tool", {}, env={**url, "INLET_WEBHOOK_SECRET_ARN": ARN, "INLET_WEBHOOK_SECRET": SECRET}
        )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"INLET_WEBHOOK_URL": "ftp://x.example/"},
            r"INLET_WEBHOOK_URL \(--webhook-url\): expected an http",
        ),
        ({"INLET_WEBHOOK_URL": "http:///nohost"}, "expected an http"),
        (
            {"INLET_WEBHOOK_URL": "http://127.0.0.1:9/"},
            r"needs INLET_WEBHOOK_SECRET .* at least 16",
        ),
        (
            {"INLET_WEBHOOK_URL": "http://127.0.0.1:9/", "INLET_WEBHOOK_SECRET": "short"},
            "at least 16",
        ),
        ({"INLET_WEBHOOK_SECRET": SECRET}, r"INLET_WEBHOOK_SECRET .* is set but INLET_WEBHOOK_URL"),
        (
            {"INLET_WEBHOOK_URL": "https://h.example/", "INLET_WEBHOOK_SECRET_ARN": ARN},
            r"INLET_WEBHOOK_SECRET_ARN .* webhook function on AWS only",
        ),
        ({"INLET_WEBHOOK_SECRET_ARN": ARN}, r"SECRET_ARN .* is set but INLET_WEBHOOK_URL"),
        ({"INLET_WEBHOOK_RETRY_SECONDS": "0"}, "must be between 1 and 3600, got 0"),
        ({"INLET_WEBHOOK_RETRY_SECONDS": "7200"}, "must be between 1 and 3600, got 7200"),
    ],
)
def test_a_bad_webhook_setting_is_refused_with_the_setting_named(
    env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load("up", {}, env=env)
