"""Retention rules, pure: which period applies and when a message is due."""

from datetime import UTC, datetime, timedelta

import pytest

from inlet.retention_policy import RetentionPolicy
from inlet.settings import load

pytestmark = pytest.mark.unit
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
POLICY = RetentionPolicy(30, {"legal.example.com": 3650, "tmp.example.com": 7})


def test_the_longest_period_among_recipient_domains_wins() -> None:
    assert POLICY.days_for(["a@example.com"]) == 30
    assert POLICY.days_for(["a@tmp.example.com"]) == 7
    assert POLICY.days_for(["a@tmp.example.com", "b@LEGAL.example.com"]) == 3650
    assert POLICY.days_for(["a@tmp.example.com", "b@other.org"]) == 30
    assert POLICY.days_for([]) == 30
    assert (POLICY.shortest, POLICY.longest) == (7, 3650)


def test_due_exactly_at_the_end_of_the_period() -> None:
    received = NOW - timedelta(days=7)
    assert POLICY.is_expired(received, ["x@tmp.example.com"], NOW)
    assert not POLICY.is_expired(received + timedelta(seconds=1), ["x@tmp.example.com"], NOW)
    assert not POLICY.is_expired(received, ["x@example.com"], NOW)
    assert POLICY.earliest_cutoff(NOW) == received


def test_zero_days_expires_everything_at_once() -> None:
    assert RetentionPolicy(0).is_expired(NOW, ["a@example.com"], NOW)


def test_built_from_settings() -> None:
    settings = load(
        "tool",
        {"retention_days": "90", "retention_overrides": "Legal.Example.com=3650"},
        env={},
    )
    assert RetentionPolicy.from_settings(settings) == RetentionPolicy(
        90, {"legal.example.com": 3650}
    )
    assert settings.domains == ()
