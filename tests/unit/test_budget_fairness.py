"""The byte budget's stall eviction: memory someone waits for is not left with a holder that
makes no progress. (Over real sockets: tests/relay/test_fairness.py.)"""

import asyncio

import pytest

from relay.budget import ByteBudget, Evicted

pytestmark = pytest.mark.unit

STALL = 0.2  # seconds; every wait below is bounded by a few of these


class Holder:
    """A budget holder that records its eviction, as a session would answer 421."""

    def __init__(self, budget: ByteBudget, name: str, *, stall: float = STALL) -> None:
        self.name = name
        self.evicted = False
        budget.watch(self, stall_timeout=stall, evict=self.on_evict)

    def on_evict(self) -> None:
        self.evicted = True


def run(coro: object) -> None:
    asyncio.run(asyncio.wait_for(coro, 10))  # type: ignore[arg-type]


def test_a_stalled_holder_is_evicted_for_a_waiting_reservation() -> None:
    async def scenario() -> None:
        budget = ByteBudget(100)
        stalled = Holder(budget, "stalled")
        await budget.reserve(stalled, 90)
        fresh = Holder(budget, "fresh")
        started = asyncio.get_running_loop().time()
        await budget.reserve(fresh, 20)  # waits: only the stalled holder can make room
        waited = asyncio.get_running_loop().time() - started
        assert stalled.evicted
        assert not fresh.evicted
        assert STALL * 0.9 <= waited < STALL * 5
        assert (budget.used, budget.held(fresh), budget.held(stalled)) == (20, 20, 0)
        assert budget.evictions == 1
        with pytest.raises(Evicted):  # its session must not go on storing
            await budget.reserve(stalled, 1)
        budget.set(stalled, 50)  # late bookkeeping of an evicted holder changes nothing
        assert budget.used == 20
        budget.release(stalled)
        budget.release(fresh)
        assert budget.used == 0

    run(scenario())


def test_without_contention_a_silent_holder_is_left_alone() -> None:
    async def scenario() -> None:
        budget = ByteBudget(100)
        slow = Holder(budget, "slow")
        await budget.reserve(slow, 90)
        other = Holder(budget, "other")
        await budget.reserve(other, 10)  # fits: nobody waits
        await asyncio.sleep(STALL * 3)
        assert not slow.evicted
        assert not other.evicted
        assert budget.used == 100
        assert budget.evictions == 0

    run(scenario())


def test_largest_stalled_first_and_only_as_many_as_needed() -> None:
    async def scenario() -> None:
        budget = ByteBudget(100)
        small, large, middle = (Holder(budget, n) for n in ("small", "large", "middle"))
        await budget.reserve(small, 20)
        await budget.reserve(large, 45)
        await budget.reserve(middle, 30)
        fresh = Holder(budget, "fresh")
        await budget.reserve(fresh, 30)  # 95 + 30 > 100: 25 must go; the largest is enough
        assert (small.evicted, large.evicted, middle.evicted) == (False, True, False)
        assert budget.used == 80
        fresh2 = Holder(budget, "fresh2")
        await budget.reserve(fresh2, 40)  # 80 + 40: 20 must go; the largest now is middle
        assert (small.evicted, middle.evicted) == (False, True)
        assert budget.used == 90

    run(scenario())


def test_holders_waiting_in_reserve_or_in_a_store_call_are_never_stalled() -> None:
    async def scenario() -> None:
        budget = ByteBudget(100)
        storing = Holder(budget, "storing")
        waiting = Holder(budget, "waiting")
        await budget.reserve(storing, 60)
        await budget.reserve(waiting, 40)
        store_call_done = asyncio.Event()

        async def store_call() -> None:
            with budget.busy(storing):  # a slow store call: waiting on us, not stalled
                await store_call_done.wait()
            budget.set(storing, 0)  # the write released its memory

        storer = asyncio.create_task(store_call())
        waiter = asyncio.create_task(budget.reserve(waiting, 30))  # waits for memory
        await asyncio.sleep(STALL * 3)
        assert not storing.evicted
        assert not waiting.evicted
        assert not waiter.done()
        store_call_done.set()
        await asyncio.wait_for(waiter, STALL * 5)
        await storer
        assert not storing.evicted
        assert not waiting.evicted
        assert budget.held(waiting) == 70
        assert budget.evictions == 0

    run(scenario())


def test_progress_restarts_the_stall_clock() -> None:
    async def scenario() -> None:
        budget = ByteBudget(100)
        trickle = Holder(budget, "trickle")
        stalled = Holder(budget, "stalled")
        await budget.reserve(trickle, 50)
        await budget.reserve(stalled, 40)
        fresh = Holder(budget, "fresh")
        waiter = asyncio.create_task(budget.reserve(fresh, 60))  # needs both to go

        for _ in range(8):  # trickles 1 byte every STALL/4 for two stall timeouts
            await asyncio.sleep(STALL / 4)
            budget.set(trickle, budget.held(trickle) + 1)
        assert stalled.evicted
        assert not trickle.evicted
        assert not waiter.done()  # the stalled holder's 40 were not enough
        budget.release(trickle)  # the trickling message was stored
        await asyncio.wait_for(waiter, STALL * 5)
        assert budget.held(fresh) == 60

    run(scenario())


def test_a_holder_that_stalls_while_others_already_wait_is_evicted_in_its_turn() -> None:
    async def scenario() -> None:
        budget = ByteBudget(100)
        first = Holder(budget, "first")
        await budget.reserve(first, 60)
        fresh = Holder(budget, "fresh")
        waiter = asyncio.create_task(budget.reserve(fresh, 50))
        await asyncio.sleep(STALL / 2)
        late = Holder(budget, "late")  # takes memory while fresh waits, then goes silent
        await budget.reserve(late, 30)
        await asyncio.wait_for(waiter, STALL * 5)  # first evicted (60 is enough)
        assert first.evicted
        assert not late.evicted
        waiter2 = asyncio.create_task(budget.reserve(Holder(budget, "fresh2"), 30))
        await asyncio.wait_for(waiter2, STALL * 5)  # then late, once stalled itself
        assert late.evicted
        assert not fresh.evicted
        assert budget.evictions == 2

    run(scenario())


def test_unwatched_holders_are_never_evicted() -> None:
    async def scenario() -> None:
        budget = ByteBudget(100)
        plain = object()
        await budget.reserve(plain, 90)
        waiter = asyncio.create_task(budget.reserve(object(), 20))
        await asyncio.sleep(STALL * 2)
        assert not waiter.done()
        assert budget.evictions == 0
        budget.release(plain)
        await asyncio.wait_for(waiter, 1)

    run(scenario())
