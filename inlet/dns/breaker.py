"""A resolver that has stopped answering is not asked again for a while.

Without this, a DNS outage costs every message its whole DNS budget (6 s) before its verdicts
are temperrors: a parse function would run six seconds per message, and a backlog would grow
behind it. After `failures` DnsErrors in a row the breaker opens: for `cooldown` seconds every
question fails at once (a temperror, as it would have been). Then one question is let through;
an answer closes the breaker, a failure opens it again. Empty answers are answers."""

import threading
import time
from collections.abc import Callable

from inlet.dns import Answer, DnsError, RecordType, Resolver

FAILURES = 5
COOLDOWN_SECONDS = 30.0


class BreakerResolver:
    def __init__(
        self,
        inner: Resolver,
        *,
        failures: int = FAILURES,
        cooldown: float = COOLDOWN_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._inner = inner
        self._failures = failures
        self._cooldown = cooldown
        self._clock = clock
        self._in_a_row = 0
        self._open_until: float | None = None
        self._lock = threading.Lock()

    def lookup(self, name: str, rdtype: RecordType, *, timeout: float) -> Answer:
        with self._lock:
            if self._open_until is not None:
                if self._clock() < self._open_until:
                    raise DnsError(f"{name} {rdtype}: DNS has not answered lately; not asked")
                self._open_until = None  # half open: this question decides
                self._in_a_row = self._failures - 1
        try:
            answer = self._inner.lookup(name, rdtype, timeout=timeout)
        except DnsError:
            with self._lock:
                self._in_a_row += 1
                if self._in_a_row >= self._failures:
                    self._open_until = self._clock() + self._cooldown
            raise
        with self._lock:
            self._in_a_row = 0
        return answer
