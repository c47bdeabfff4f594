"""A bounded per-process cache in front of a resolver: answers are kept for their TTL (capped),
the least recently used go first when it is full, and failures are never kept (asking again
later is the point of a temperror)."""

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from inlet.dns import Answer, RecordType, Resolver, normal_name

DEFAULT_ENTRIES = 4096
# A record changed at its source is seen within the hour, whatever TTL it was served with.
DEFAULT_MAX_TTL = 3600.0


class CachingResolver:
    def __init__(
        self,
        inner: Resolver,
        *,
        max_entries: int = DEFAULT_ENTRIES,
        max_ttl: float = DEFAULT_MAX_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 1:
            raise ValueError("a DNS cache needs room for at least one answer")
        self._inner = inner
        self._max_entries = max_entries
        self._max_ttl = max_ttl
        self._clock = clock
        self._entries: OrderedDict[tuple[str, RecordType], tuple[float, Answer]] = OrderedDict()
        # The parse step is one thread per process today; the lock keeps the cache whole if
        # a caller ever shares it between threads.
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, name: str, rdtype: RecordType, *, timeout: float) -> Answer:
        key = (normal_name(name), rdtype)
        now = self._clock()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                expires, answer = entry
                if expires > now:
                    self._entries.move_to_end(key)
                    return answer
                del self._entries[key]
        answer = self._inner.lookup(name, rdtype, timeout=timeout)  # a DnsError is not kept
        keep = min(answer.ttl, self._max_ttl)
        if keep > 0:
            with self._lock:
                self._entries[key] = (now + keep, answer)
                self._entries.move_to_end(key)
                while len(self._entries) > self._max_entries:
                    self._entries.popitem(last=False)
        return answer
