"""A process-wide budget for message bytes held in memory.

Sessions reserve bytes before taking them from their socket. When the budget is spent, a
session waits, its socket is not read, and TCP pushes back on the sender. To guarantee progress
the oldest holder never waits: it can always fill its buffer up to the store's next flush, which
then releases memory for everyone. Memory is therefore bounded by the limit plus one write batch.

Memory someone waits for cannot be held by a sender that sends nothing. A holder that `watch`es
its holding names a stall timeout and an eviction callback. While a reservation waits, holders
that have made no progress (no `reserve` or `set`) for their stall timeout are evicted, largest
holding first and only as many as the waiting reservations need: the budget forgets what they
hold and calls their callback (the session answers 421 and closes; its message is aborted, which
frees the memory). A holder waiting in `reserve`, or `busy` in a store call, is waiting on us,
never stalled; and without a waiting reservation nobody is evicted, however slow.

Everything runs in the event loop: one timer, armed only while reservations wait, for the moment
the next holder could count as stalled. Holders are kept in order of their last progress, so
finding that moment and the stalled holders costs nothing per reservation.

The budget counts bytes; what the process holds is what the C allocator keeps. glibc serves a
large request (128 KiB and up, at first) with its own mmap, returned to the system when freed,
but each time such a buffer is freed it raises that threshold to the buffer's size: after the
first 6 MiB message buffer, every buffer up to 6 MiB (write batches, growing messages, request
blocks) comes from the heap, where memory freed out of order stays resident. With 20 senders
of 6 MiB on S3 the heap held up to 104 MiB free and peak RSS was 204 MiB, against a 64 MiB
budget. Creating a budget therefore pins the threshold at 128 KiB (`pin_mmap_threshold`):
large buffers are mapped and unmapped, never left in the heap (free heap then 4-12 MiB; see
docs/performance.md, "Fair memory"). The cost is a page fault per 4 KiB of every fresh large
buffer: about 0.5 ms per MiB on a 2-core VM.
"""

import asyncio
import ctypes
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

log = logging.getLogger(__name__)


M_MMAP_THRESHOLD = -3  # glibc's mallopt(3) parameter
MMAP_THRESHOLD = 128 * 1024  # glibc's initial threshold, kept from changing
_pinned: bool | None = None  # once per process


def pin_mmap_threshold() -> bool:
    """Serve every allocation of MMAP_THRESHOLD bytes or more with its own mmap, for good
    (glibc only; an operator's own MALLOC_MMAP_THRESHOLD_ or glibc.malloc.mmap_threshold
    tunable is left alone). Whether the setting is in force; idempotent."""
    global _pinned
    if _pinned is None:
        _pinned = _set_mmap_threshold()
    return _pinned


def _set_mmap_threshold() -> bool:
    if "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return True
    if "mmap_threshold" in os.environ.get("GLIBC_TUNABLES", ""):
        return True
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):
            return False
        mallopt = ctypes.CDLL(None).mallopt
    except (ValueError, OSError, AttributeError):  # not glibc (musl, macOS)
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    if mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) != 1:
        log.warning("mallopt(M_MMAP_THRESHOLD) failed: freed buffers may stay resident")
        return False
    return True


class Evicted(Exception):
    """The budget took back what this holder held: it had stalled while others waited."""


@dataclass(slots=True)
class _Watch:
    stall_timeout: float
    evict: Callable[[], None]
    busy: int = 0  # > 0 while waiting in reserve or in a store call
    evicted: bool = False


class ByteBudget:
    def __init__(self, limit: int) -> None:
        if limit <= 0:
            raise ValueError("budget limit must be positive")
        pin_mmap_threshold()
        self.limit = limit
        self.used = 0
        self.peak = 0
        self.evictions = 0
        self._held: dict[object, int] = {}  # in order of age: the oldest holder first
        self._changed = asyncio.Condition()
        self._wanted: dict[object, int] = {}  # reservations waiting, by owner
        self._watched: dict[object, _Watch] = {}
        # Watched holders that hold memory and are not busy, oldest progress first: the time
        # (time.monotonic) at which each would count as stalled.
        self._idle: dict[object, float] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0

    def held(self, owner: object) -> int:
        return self._held.get(owner, 0)

    def watch(self, owner: object, *, stall_timeout: float, evict: Callable[[], None]) -> None:
        """Let `owner` be evicted (`evict` called, what it holds forgotten) once it has made no
        progress for `stall_timeout` seconds while another reservation waits; until `release`.
        Holders are looked at in order of progress: give them all the same stall timeout."""
        self._watched[owner] = _Watch(stall_timeout, evict)
        self._progress(owner)

    async def reserve(self, owner: object, amount: int) -> None:
        """Add `amount` to what `owner` holds, waiting while the budget is spent. Raises
        Evicted if `owner` was evicted."""
        watch = self._watched.get(owner)
        if watch is not None and watch.evicted:
            raise Evicted
        if self.used + amount > self.limit and not self._is_oldest(owner):
            self._wanted[owner] = amount
            try:
                with self.busy(owner):
                    self._arm_for_idle()
                    async with self._changed:
                        await self._changed.wait_for(
                            lambda: self.used + amount <= self.limit or self._is_oldest(owner)
                        )
            finally:
                del self._wanted[owner]
        self._set(owner, self.held(owner) + amount)
        self._progress(owner)
        if self._wanted and self._idle and next(iter(self._idle.values())) <= time.monotonic():
            # More is held while others wait: a holder already stalled may be needed now.
            self._arm(time.monotonic())

    def set(self, owner: object, amount: int) -> None:
        """Record that `owner` now holds exactly `amount` (after a flush released some)."""
        watch = self._watched.get(owner)
        if watch is not None and watch.evicted:
            return  # what it held was forgotten when it was evicted
        before = self.used
        self._set(owner, amount)
        self._progress(owner)
        if self.used < before:
            self._wake_waiters()

    def release(self, owner: object) -> None:
        """`owner` holds nothing any more and is forgotten (its watch too)."""
        self.set(owner, 0)
        self._watched.pop(owner, None)
        self._idle.pop(owner, None)

    @contextmanager
    def busy(self, owner: object) -> Iterator[None]:
        """While in this block (a store call), `owner` waits on us: it is not stalled."""
        watch = self._watched.get(owner)
        if watch is None:
            yield
            return
        watch.busy += 1
        self._idle.pop(owner, None)
        try:
            yield
        finally:
            watch.busy -= 1
            self._progress(owner)

    # -- internals -------------------------------------------------------------------------

    def _is_oldest(self, owner: object) -> bool:
        return next(iter(self._held), owner) is owner

    def _set(self, owner: object, amount: int) -> None:
        self.used += amount - self.held(owner)
        if amount:
            self._held[owner] = amount
        else:
            self._held.pop(owner, None)
        self.peak = max(self.peak, self.used)

    def _wake_waiters(self) -> None:
        if self._wanted:
            asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    def _progress(self, owner: object) -> None:
        """`owner` did something: its stall clock starts again (at the back of the order)."""
        watch = self._watched.get(owner)
        if watch is None:
            return
        self._idle.pop(owner, None)
        if watch.busy or watch.evicted or not self.held(owner):
            return
        stalls_at = time.monotonic() + watch.stall_timeout
        self._idle[owner] = stalls_at
        if self._wanted:
            self._arm(stalls_at)

    def _arm_for_idle(self, *, after: float = float("-inf")) -> None:
        """Arm the timer for the first idle holder that stalls later than `after`."""
        for stalls_at in self._idle.values():
            if stalls_at > after:
                self._arm(stalls_at)
                return

    def _arm(self, at: float) -> None:
        """Look for stalled holders at monotonic time `at` (or earlier, if armed earlier)."""
        if self._timer is not None:
            if self._timer_at <= at:
                return
            self._timer.cancel()
        self._timer_at = at
        delay = max(at - time.monotonic(), 0.0)
        self._timer = asyncio.get_running_loop().call_later(delay, self._check)

    def _check(self) -> None:
        self._timer = None
        if not self._wanted:
            return
        now = time.monotonic()
        stalled = []
        for owner, stalls_at in self._idle.items():
            if stalls_at > now:
                break
            stalled.append(owner)
        stalled.sort(key=self.held, reverse=True)
        need = self.used + sum(self._wanted.values()) - self.limit
        before = self.evictions
        for owner in stalled:
            if need <= 0:
                break
            need -= self.held(owner)
            self._evict(owner)
        if self.evictions > before:
            self._wake_waiters()
        # Those stalled but not needed now are looked at again when more is held (reserve).
        self._arm_for_idle(after=now)

    def _evict(self, owner: object) -> None:
        watch = self._watched[owner]
        watch.evicted = True
        self.evictions += 1
        held = self.held(owner)
        self._idle.pop(owner, None)
        self._set(owner, 0)
        log.info("evicting a stalled holder", extra={"held": held, "waiting": len(self._wanted)})
        try:
            watch.evict()
        except Exception:
            log.exception("eviction callback failed")
