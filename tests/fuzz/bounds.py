"""How long each fuzzer runs: examples and wall-clock seconds per test, from the environment.

Default (`make test`): the test's own example count and seconds, derandomized: the same examples
on every run, so CI is never flaky and a failure reproduces as it is.

Long run (`make fuzz`): INLET_FUZZ_EXAMPLES (examples per test) and INLET_FUZZ_SECONDS (seconds
per test), either or both. Examples are then random, a new search on every run (pytest's
`--hypothesis-seed=N` repeats one), and a failure prints the `@reproduce_failure` blob that
replays it. No example database is kept anywhere (database=None).
"""

import hashlib
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

from hypothesis import HealthCheck, Phase, settings

EXAMPLES_VAR = "INLET_FUZZ_EXAMPLES"
SECONDS_VAR = "INLET_FUZZ_SECONDS"
# After a first failure, how long shrinking it may take before further candidates are passed
# over (the failing examples themselves always run, so the report replays them).
SHRINK_SECONDS = 40.0

T = TypeVar("T")


@dataclass(frozen=True)
class Bounds:
    examples: int
    seconds: float
    long: bool  # set from the environment: random examples, not the default derandomized run


def bounds(examples: int, seconds: float, env: Mapping[str, str] = os.environ) -> Bounds:
    """This test's bounds: its defaults, or INLET_FUZZ_EXAMPLES / INLET_FUZZ_SECONDS."""
    raw_examples, raw_seconds = env.get(EXAMPLES_VAR), env.get(SECONDS_VAR)
    if raw_examples:
        examples = int(raw_examples)
        if examples < 1:
            raise ValueError(f"{EXAMPLES_VAR} must be a positive number of examples")
    if raw_seconds:
        seconds = float(raw_seconds)
        if not seconds > 0:
            raise ValueError(f"{SECONDS_VAR} must be a positive number of seconds")
    return Bounds(examples, seconds, long=bool(raw_examples or raw_seconds))


def fuzz_settings(limits: Bounds, *, deadline: float) -> settings:
    """Hypothesis settings for one fuzz test; `deadline`: seconds one example may take."""
    return settings(
        max_examples=limits.examples,
        deadline=timedelta(seconds=deadline),
        derandomize=not limits.long,
        database=None,
        print_blob=True,
        report_multiple_bugs=False,
        # No "explain" phase: it replays variants of a failure, which the wall clock may skip.
        phases=(Phase.explicit, Phase.generate, Phase.shrink),
        # Examples are slow by design (sockets, fsync, TLS) and some are large (long lines).
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


class _CapReached(BaseException):
    """Ends a hypothesis run from inside the test: hypothesis takes an Exception for a failure
    to shrink, but lets other BaseExceptions through (as it does KeyboardInterrupt)."""


class WallClock:
    """A cap in seconds on one hypothesis run, which has none of its own.

    The test draws its example through `run` (from `st.data()`) and calls hypothesis inside
    `capped()`: past the cap, the run ends there, a pass with the examples so far. Once an
    example has failed, the cap gives way to SHRINK_SECONDS for shrinking it; past those,
    examples are drawn but not run, except those that failed, so that hypothesis's final
    replay reports the failure."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.ran = 0
        self.capped_at: float | None = None
        self._started: float | None = None
        self._first_failure: float | None = None
        self._failed: set[bytes] = set()

    @contextmanager
    def capped(self) -> Iterator[None]:
        try:
            yield
        except _CapReached:
            self.capped_at = self.elapsed

    def run(self, draw: Callable[[], T], body: Callable[[T], None]) -> None:
        now = time.monotonic()
        if self._started is None:
            self._started = now
        # Drawn first even past the cap: hypothesis checks that an example draws the same
        # whenever it runs, and ending before the draw reads to it as a strategy gone wrong.
        example = draw()
        if self._first_failure is None and now > self._started + self.seconds:
            raise _CapReached
        key = hashlib.sha256(repr(example).encode()).digest()
        past = self._first_failure is not None and now > self._first_failure + SHRINK_SECONDS
        if past and key not in self._failed:
            return
        try:
            body(example)
        except BaseException:
            self._failed.add(key)
            if self._first_failure is None:
                self._first_failure = time.monotonic()
            raise
        self.ran += 1

    @property
    def elapsed(self) -> float:
        return 0.0 if self._started is None else time.monotonic() - self._started

    def summary(self) -> str:
        cap = "" if self.capped_at is None else f", stopped by the {self.seconds:g} s cap"
        return f"{self.ran} examples run in {self.elapsed:.1f} s{cap}"
