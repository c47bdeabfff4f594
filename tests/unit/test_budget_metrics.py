import asyncio
import json
from io import StringIO

import pytest

from relay.budget import ByteBudget
from relay.metrics import NAMESPACE, REPLIES, STORE_LATENCY, RelayMetrics

pytestmark = pytest.mark.unit


def test_budget_makes_the_newer_holder_wait_and_lets_the_oldest_proceed() -> None:
    async def scenario() -> list[str]:
        budget = ByteBudget(100)
        old, new = object(), object()
        events: list[str] = []
        await budget.reserve(old, 60)
        await budget.reserve(new, 30)

        async def newer() -> None:
            await budget.reserve(new, 20)  # 110 > 100: must wait
            events.append("new got 20")

        task = asyncio.create_task(newer())
        await asyncio.sleep(0.01)
        assert events == []
        await budget.reserve(old, 50)  # the oldest holder never waits: progress is guaranteed
        events.append("old got 50")
        assert budget.used == 140
        budget.set(old, 0)  # it flushed
        await asyncio.wait_for(task, 1)
        assert (budget.used, budget.peak) == (50, 140)
        budget.release(new)
        assert budget.used == 0
        return events

    assert asyncio.run(scenario()) == ["old got 50", "new got 20"]


def test_metrics_are_aggregated_emf_documents() -> None:
    metrics = RelayMetrics(clock=lambda: 1700000000.0)
    metrics.session_opened()
    for _ in range(3):
        metrics.reply(250)
        metrics.stored(1000, 0.004)
    metrics.reply(550)
    metrics.store_failed()
    out = StringIO()
    metrics.flush(out)
    docs = [json.loads(line) for line in out.getvalue().splitlines()]
    main, *replies = docs
    assert main["_aws"]["Timestamp"] == 1700000000000
    assert main["_aws"]["CloudWatchMetrics"][0]["Namespace"] == NAMESPACE
    assert (main["MessagesStored"], main["BytesStored"], main["StoreFailures"]) == (3, 3000, 1)
    assert main[STORE_LATENCY] == [4.0, 4.0, 4.0]
    assert [(d["ReplyCode"], d[REPLIES]) for d in replies] == [("250", 3), ("550", 1)]
    for doc in docs:
        declared = doc["_aws"]["CloudWatchMetrics"][0]
        assert all(name in doc for dims in declared["Dimensions"] for name in dims)
        assert all(m["Name"] in doc for m in declared["Metrics"])
    # Counting starts again after each flush; an idle interval still reports zeros.
    assert metrics.documents()[0]["MessagesStored"] == 0


def test_latency_values_stay_within_emfs_100_per_document() -> None:
    metrics = RelayMetrics()
    for i in range(1000):
        metrics.stored(10, i / 1000)
    assert len(metrics.documents()[0][STORE_LATENCY]) == 100
