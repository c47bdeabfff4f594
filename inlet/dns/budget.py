"""One message's DNS, bounded: each question waits at most `per_query` seconds and all of them
together at most `total`, so a parse never waits on DNS for longer than that, however many
signatures or SPF includes a message brings. Once the budget is spent every further question
fails at once (a temperror for whichever verdict asked)."""

import time
from collections.abc import Callable

from inlet.dns import Answer, DnsError, RecordType, Resolver

# RFC 7208 §4.6.4 bounds SPF's lookups, not their time; these bound the time. A resolver that
# answers at all answers in well under a second; one that does not is not worth more of the
# parse function's time (its timeout is minutes, the verdicts' worth is seconds).
PER_QUERY_SECONDS = 2.0
TOTAL_SECONDS = 6.0


class BudgetedResolver:
    def __init__(
        self,
        inner: Resolver,
        *,
        total: float = TOTAL_SECONDS,
        per_query: float = PER_QUERY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._inner = inner
        self._per_query = per_query
        self._clock = clock
        self._deadline = clock() + total
        self._total = total

    def lookup(self, name: str, rdtype: RecordType, *, timeout: float) -> Answer:
        remaining = self._deadline - self._clock()
        if remaining <= 0:
            raise DnsError(f"{name} {rdtype}: this message's {self._total:g} s of DNS are spent")
        return self._inner.lookup(name, rdtype, timeout=min(timeout, self._per_query, remaining))
