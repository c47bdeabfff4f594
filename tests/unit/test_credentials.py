"""Submission credentials: the auth file's format, the KDF, `inlet auth hash`, and the
failed-login limiter."""

import io

import pytest

from inlet import credentials
from inlet.errors import ConfigError
from relay.auth import AuthLimiter, Credentials
from tests.cli import Ran, run_cli

pytestmark = pytest.mark.unit


def test_a_hash_verifies_its_password_only_and_is_argon2id() -> None:
    encoded = credentials.hash_password("s3cret")
    assert encoded.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert "s3cret" not in encoded
    users = {"app": encoded}
    assert credentials.verify(users, "app", "s3cret")
    assert not credentials.verify(users, "app", "s3cret ")
    assert not credentials.verify(users, "other", "s3cret")


def test_the_auth_file_format_and_its_errors_name_the_line_not_the_content() -> None:
    encoded = credentials.hash_password("x")
    text = f"# users\n\napp:{encoded}\nscanner:{encoded}\n".encode()
    assert credentials.parse(text, "users") == {"app": encoded, "scanner": encoded}
    # A new deployment's placeholder: valid, and nobody can log in.
    assert credentials.parse(b"# put user:hash lines here\n", "users") == {}
    for bad, problem in (
        (b"app:plaintext-password\n", "line 1: expected user:hash"),
        (f"app:{encoded}\napp:{encoded}\n".encode(), "line 2: user 'app' is listed twice"),
        (b"\xff\xfe", "not UTF-8"),
    ):
        with pytest.raises(ConfigError, match=problem) as error:
            credentials.parse(bad, "users")
        assert "plaintext-password" not in str(error.value)


def test_credentials_keep_the_old_users_when_a_new_version_is_bad() -> None:
    versions = [f"app:{credentials.hash_password('one')}\n".encode(), b"app:oops\n"]
    source = Credentials(lambda: versions[0], source="test")
    assert source.refresh()
    assert source.verify(b"app", b"one") == "app"
    versions[0] = versions[1]
    assert not source.refresh()  # logged, not raised
    assert source.verify(b"app", b"one") == "app"
    first = Credentials(lambda: b"app:oops\n", source="test")
    with pytest.raises(ConfigError):
        first.refresh()  # no users yet: a relay must not start like this


def test_the_limiter_refuses_an_address_past_its_failures_until_they_age_out() -> None:
    now = [1000.0]
    limiter = AuthLimiter(failures=3, window=60, addresses=2, clock=lambda: now[0])
    for _ in range(3):
        assert not limiter.blocked("203.0.113.7")
        limiter.failed("203.0.113.7")
    assert limiter.blocked("203.0.113.7")
    assert not limiter.blocked("198.51.100.1")
    now[0] += 61
    assert not limiter.blocked("203.0.113.7")
    # Bounded memory: only the most recent addresses are remembered.
    for address in ("192.0.2.1", "192.0.2.2", "192.0.2.3"):
        limiter.failed(address)
    assert len(limiter._seen) == 2


def test_inlet_auth_hash_reads_stdin_and_prints_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    def auth_hash(stdin: str) -> Ran:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        return run_cli("auth", "hash")

    ran = auth_hash("pass word\n")
    assert ran.returncode == 0, ran.stderr
    (line,) = ran.stdout.splitlines()
    assert credentials.verify({"u": line}, "u", "pass word")
    empty = auth_hash("")
    assert (empty.returncode, empty.stdout) == (2, "")
    assert "no password" in empty.stderr
