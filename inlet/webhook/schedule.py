"""When a failed webhook delivery is tried again, and when Inlet stops trying.

The same schedule serves `inlet up`'s outbox and the webhook function on AWS: the first retry
after `retry_seconds`, doubling up to an hour, until a day has passed since the first attempt.
"""

from __future__ import annotations

MAX_DELAY_SECONDS = 3600
# What a first retry delay may be (INLET_WEBHOOK_RETRY_SECONDS, an environment's
# webhook_retry_seconds): at least a second, at most the cap every delay reaches.
RETRY_SECONDS = range(1, MAX_DELAY_SECONDS + 1)
WINDOW_SECONDS = 24 * 3600


def retry_delay(retry_seconds: int, failures: int) -> int:
    """Seconds to wait after the `failures`-th failed attempt (1 = the first failure)."""
    if failures < 1:
        raise ValueError("failures counts from 1")
    # Past 2**12 every sane retry_seconds is already above the cap; bounding the exponent keeps
    # the arithmetic small however long an event has been failing.
    factor: int = 2 ** min(failures - 1, 12)
    return min(MAX_DELAY_SECONDS, retry_seconds * factor)


def schedule(retry_seconds: int, window: int = WINDOW_SECONDS) -> list[int]:
    """The delays before each retry until the window is spent (the last one may cross it)."""
    delays: list[int] = []
    total = 0
    while total < window:
        delay = retry_delay(retry_seconds, len(delays) + 1)
        delays.append(delay)
        total += delay
    return delays


def attempts_within(retry_seconds: int, window: int = WINDOW_SECONDS) -> int:
    """How many deliveries the schedule makes in all: the first plus one per retry delay."""
    return 1 + len(schedule(retry_seconds, window))
