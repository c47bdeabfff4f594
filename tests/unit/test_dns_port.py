"""The DNS port's wrappers over a resolver: the bounded TTL cache and the per-message budget
(a scripted resolver behind them, a hand-turned clock)."""

import contextlib
from collections.abc import Callable

import pytest

from inlet.dns import Answer, DnsError, RecordType
from inlet.dns.breaker import BreakerResolver
from inlet.dns.budget import BudgetedResolver
from inlet.dns.cache import CachingResolver

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Scripted:
    """Answers from a table; counts and records what it was asked."""

    def __init__(self, answer: Callable[[str], Answer]) -> None:
        self.answer = answer
        self.asked: list[tuple[str, RecordType, float]] = []

    def lookup(self, name: str, rdtype: RecordType, *, timeout: float) -> Answer:
        self.asked.append((name, rdtype, timeout))
        return self.answer(name)


def test_answers_are_kept_for_their_ttl_capped() -> None:
    clock = Clock()
    inner = Scripted(
        lambda name: Answer(((b"v=spf1 -all",),), 30.0 if "short" in name.lower() else 9e9)
    )
    cache = CachingResolver(inner, max_ttl=3600.0, clock=clock)
    for _ in range(3):
        cache.lookup("Short.Example.org.", "TXT", timeout=1)
        cache.lookup("long.example.org", "TXT", timeout=1)
    assert len(inner.asked) == 2  # the name is compared case-blind, without its final dot
    clock.now += 31
    cache.lookup("short.example.org", "TXT", timeout=1)
    cache.lookup("long.example.org", "TXT", timeout=1)
    assert len(inner.asked) == 3  # the short TTL ran out; the long one is capped at an hour
    clock.now += 3600
    cache.lookup("long.example.org", "TXT", timeout=1)
    assert len(inner.asked) == 4


def test_the_cache_is_bounded_least_recently_used_first() -> None:
    inner = Scripted(lambda name: Answer(("192.0.2.1",), 300.0))
    cache = CachingResolver(inner, max_entries=2, clock=Clock())
    cache.lookup("a.example", "A", timeout=1)
    cache.lookup("b.example", "A", timeout=1)
    cache.lookup("a.example", "A", timeout=1)  # a is now the most recent
    cache.lookup("c.example", "A", timeout=1)  # so b goes
    assert len(cache) == 2
    cache.lookup("a.example", "A", timeout=1)
    assert [name for name, _, _ in inner.asked] == ["a.example", "b.example", "c.example"]
    cache.lookup("b.example", "A", timeout=1)
    assert inner.asked[-1][0] == "b.example"


def test_failures_and_zero_ttls_are_not_kept() -> None:
    def failing(name: str) -> Answer:
        raise DnsError(f"{name}: timeout")

    inner = Scripted(failing)
    cache = CachingResolver(inner, clock=Clock())
    for _ in range(2):
        with pytest.raises(DnsError):
            cache.lookup("slow.example", "TXT", timeout=1)
    inner.answer = lambda name: Answer((), 0.0)
    cache.lookup("slow.example", "TXT", timeout=1)
    cache.lookup("slow.example", "TXT", timeout=1)
    assert len(inner.asked) == 4
    assert len(cache) == 0


def test_the_budget_bounds_each_question_and_all_of_them() -> None:
    clock = Clock()
    inner = Scripted(lambda name: Answer((), 60.0))

    def slow(name: str) -> Answer:
        clock.now += 2.0  # each question takes all the time it is given
        return Answer((), 60.0)

    inner.answer = slow
    budget = BudgetedResolver(inner, total=5.0, per_query=2.0, clock=clock)
    budget.lookup("a.example", "TXT", timeout=30)
    budget.lookup("b.example", "TXT", timeout=1)
    budget.lookup("c.example", "TXT", timeout=30)
    assert [timeout for _, _, timeout in inner.asked] == [2.0, 1, 1.0]  # the last: what was left
    with pytest.raises(DnsError, match="5 s of DNS are spent"):
        budget.lookup("d.example", "TXT", timeout=30)
    assert len(inner.asked) == 3


def test_the_breaker_stops_asking_a_resolver_that_does_not_answer() -> None:
    clock = Clock()
    down = True

    def answer(name: str) -> Answer:
        if down:
            raise DnsError(f"{name}: timeout")
        return Answer((), 60.0)

    inner = Scripted(answer)
    breaker = BreakerResolver(inner, failures=3, cooldown=30.0, clock=clock)
    for _ in range(5):
        with pytest.raises(DnsError):
            breaker.lookup("a.example", "TXT", timeout=1)
    assert len(inner.asked) == 3  # open after three failures in a row: the rest not asked
    clock.now += 31
    with pytest.raises(DnsError):
        breaker.lookup("a.example", "TXT", timeout=1)  # one try, still down: open again
    assert len(inner.asked) == 4
    with pytest.raises(DnsError, match="not asked"):
        breaker.lookup("a.example", "TXT", timeout=1)
    clock.now += 31
    down = False
    breaker.lookup("a.example", "TXT", timeout=1)  # answered: closed
    down = True
    for _ in range(2):
        with pytest.raises(DnsError):
            breaker.lookup("a.example", "TXT", timeout=1)
    assert len(inner.asked) == 7  # counting from zero again


def test_answers_between_failures_keep_the_breaker_closed() -> None:
    calls = iter(range(100))

    def answer(name: str) -> Answer:
        if next(calls) % 2:
            raise DnsError("SERVFAIL")
        return Answer((), 60.0)

    inner = Scripted(answer)
    breaker = BreakerResolver(inner, failures=2, clock=Clock())
    for _ in range(10):
        with contextlib.suppress(DnsError):
            breaker.lookup("a.example", "TXT", timeout=1)
    assert len(inner.asked) == 10
