"""The retention policy: how long a message is kept, decided from its envelope alone (pure).

A message is kept for the longest period any of its recipient domains asks for: a message to
both legal.example.com (10 years) and tmp.example.com (7 days) is a legal message.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from inlet.settings import Settings


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    default_days: int
    overrides: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings) -> "RetentionPolicy":
        return cls(settings.retention_days, dict(settings.retention_overrides))

    @property
    def shortest(self) -> int:
        return min([self.default_days, *self.overrides.values()])

    @property
    def longest(self) -> int:
        return max([self.default_days, *self.overrides.values()])

    def days_for(self, rcpt_to: Iterable[str] | None) -> int:
        """None: the recipients are unknown (an unreadable envelope), so the longest period
        any domain asks for applies, never less."""
        if rcpt_to is None:
            return self.longest
        days = [self.overrides.get(_domain(r), self.default_days) for r in rcpt_to]
        return max(days, default=self.default_days)

    def expires_at(self, received_at: datetime, rcpt_to: Iterable[str] | None) -> datetime:
        return received_at + timedelta(days=self.days_for(rcpt_to))

    def is_expired(
        self, received_at: datetime, rcpt_to: Iterable[str] | None, now: datetime
    ) -> bool:
        return now >= self.expires_at(received_at, rcpt_to)

    def earliest_cutoff(self, now: datetime) -> datetime:
        """No message received after this instant can be expired yet."""
        return now - timedelta(days=self.shortest)


def _domain(address: str) -> str:
    return address.rpartition("@")[2].strip().strip(">").lower().rstrip(".")
