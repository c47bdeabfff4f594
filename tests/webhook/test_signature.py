"""The Inlet-Signature header: what a receiver recomputes, and what it must refuse."""

import hashlib
import hmac

import pytest

from inlet.webhook.schedule import attempts_within, retry_delay, schedule
from inlet.webhook.signature import sign, verify

pytestmark = pytest.mark.unit

SECRET = "s3cret-s3cret-s3cret"
BODY = b'{"id":"x:received"}'


def test_the_header_is_the_hmac_of_t_dot_body_in_hex() -> None:
    expected = hmac.new(SECRET.encode(), b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, BODY, 1700000000) == f"t=1700000000,v1={expected}"


def test_a_signature_verifies_within_five_minutes_and_not_after() -> None:
    header = sign(SECRET, BODY, 1000)
    assert verify(SECRET, BODY, header, now=1000)
    assert verify(SECRET, BODY, header, now=1300)
    assert not verify(SECRET, BODY, header, now=1301)
    assert not verify(SECRET, BODY, header, now=699)  # from the future, as far off


@pytest.mark.parametrize(
    ("secret", "body"),
    [("another-secret-value", BODY), (SECRET, BODY + b" "), (SECRET, b"")],
)
def test_another_secret_or_a_changed_body_does_not_verify(secret: str, body: bytes) -> None:
    assert not verify(secret, body, sign(SECRET, BODY, 1000), now=1000)


@pytest.mark.parametrize(
    "header",
    [
        "",
        "t=1000",
        "v1=abc",
        "t=abc,v1=00",
        "t=1000;v1=00",
        "t=-5,v1=00",
        "garbage",
        "t=²,v1=00",
        "t=1000,v1=é",
    ],
)
def test_a_malformed_header_does_not_verify(header: str) -> None:
    assert not verify(SECRET, BODY, header, now=1000)


def test_any_of_several_v1_values_may_match() -> None:
    # Room for a receiver rotating secrets: unknown schemes are ignored, any v1 may match.
    good = sign(SECRET, BODY, 1000).split(",")[1]
    assert verify(SECRET, BODY, f"t=1000,v0=zz,v1={'0' * 64},{good}", now=1000)


def test_the_retry_schedule_doubles_to_an_hour_and_spans_a_day() -> None:
    delays = schedule(30)
    assert delays[:8] == [30, 60, 120, 240, 480, 960, 1920, 3600]
    assert set(delays[7:]) == {3600}
    assert sum(delays) >= 24 * 3600
    assert sum(delays[:-1]) < 24 * 3600  # no attempt more than the last one past the day
    assert attempts_within(30) == 1 + len(delays) == 31
    assert retry_delay(1, 1) == 1
    assert retry_delay(3600, 1) == 3600
    assert retry_delay(30, 10_000) == 3600
    with pytest.raises(ValueError):
        retry_delay(30, 0)
