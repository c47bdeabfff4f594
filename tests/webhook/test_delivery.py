"""The deliverer against a real HTTP receiver on 127.0.0.1, with the clock in the test's hands
(the 24-hour window is walked through, not waited for)."""

import io
import json
import logging
import time
from pathlib import Path

import pytest

from inlet.events import Event, event_of, to_json
from inlet.webhook.delivery import WebhookDeliverer
from inlet.webhook.outbox import Outbox
from inlet.webhook.schedule import attempts_within, schedule
from inlet.webhook.signature import verify
from tests.builders import make_document
from tests.processes import wait_for
from tests.webhook.receiver import Script, free_port, receiver

pytestmark = pytest.mark.relay

SECRET = "a-webhook-secret-for-tests"


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def queued(outbox: Outbox, count: int = 1) -> list[Event]:
    events = [event_of(make_document()) for _ in range(count)]
    ready = [e for e in events if e is not None]
    outbox.emit(ready)
    return ready


def deliverer(outbox: Outbox, url: str, clock: Clock, **kw: object) -> WebhookDeliverer:
    return WebhookDeliverer(outbox, url, SECRET, clock=clock, **kw)  # type: ignore[arg-type]


def test_a_2xx_delivers_the_event_signed_with_its_id(tmp_path: Path) -> None:
    clock = Clock()
    outbox = Outbox(tmp_path, clock=clock)
    [event] = queued(outbox)
    script = Script([200])
    with receiver(script) as url:
        assert deliverer(outbox, url, clock).deliver_due() is None
    [request] = script.requests
    assert request.path == "/hooks/inlet"
    assert request.body == to_json(event).encode()
    assert json.loads(request.body) == event
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Inlet-Event-Id"] == event["detail"]["event_id"]
    assert verify(SECRET, request.body, request.headers["Inlet-Signature"], now=time.time())
    [entry] = outbox.status_of(event["detail"]["id"])
    assert entry.state == "delivered"
    assert entry.record["attempts"] == 1
    assert entry.record["last_error"] is None
    assert outbox.pending_count() == 0


def test_a_503_is_retried_after_retry_seconds_and_then_delivered(tmp_path: Path) -> None:
    clock = Clock()
    outbox = Outbox(tmp_path, clock=clock)
    [event] = queued(outbox)
    script = Script([503, 200])
    with receiver(script) as url:
        worker = deliverer(outbox, url, clock, retry_seconds=30)
        assert worker.deliver_due() == pytest.approx(clock.now + 30)
        [entry] = outbox.pending()
        assert entry.record["attempts"] == 1
        assert entry.record["last_error"] == "HTTP 503"
        clock.now += 29
        worker.deliver_due()
        assert len(script.requests) == 1  # not due yet
        clock.now += 1
        worker.deliver_due()
    assert len(script.requests) == 2
    [first, second] = script.requests
    assert first.body == second.body
    assert first.headers["Inlet-Signature"] != second.headers["Inlet-Signature"]  # signed anew
    [done] = outbox.status_of(event["detail"]["id"])
    assert (done.state, done.record["attempts"]) == ("delivered", 2)
    assert (worker.delivered, worker.retries, worker.failed) == (1, 1, 0)


def test_after_a_day_of_failures_it_gives_up_loudly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    outbox = Outbox(tmp_path, clock=clock)
    [event] = queued(outbox)
    metrics = io.StringIO()
    script = Script([500])
    with receiver(script) as url, caplog.at_level(logging.INFO):
        worker = deliverer(outbox, url, clock, retry_seconds=30, metrics_out=metrics)
        started = clock.now
        for delay in schedule(30):
            assert worker.deliver_due() == pytest.approx(clock.now + delay)
            clock.now += delay
        assert worker.deliver_due() is None
    assert len(script.requests) == attempts_within(30) == 31
    gaps = [round(b.at - a.at) for a, b in zip(script.requests, script.requests[1:], strict=False)]
    assert all(gap < 5 for gap in gaps)  # the clock is the test's: no real waiting
    assert clock.now - started >= 24 * 3600
    [entry] = outbox.status_of(event["detail"]["id"])
    assert entry.state == "failed"
    assert entry.record["attempts"] == 31
    assert entry.record["last_error"] == "HTTP 500"
    [gave_up] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert gave_up.getMessage().startswith("webhook gave up")
    assert gave_up.__dict__["event_id"] == event["detail"]["event_id"]
    assert SECRET not in caplog.text
    assert event["detail"]["subject"] not in caplog.text
    worker.flush_metrics()
    [line] = metrics.getvalue().splitlines()
    emf = json.loads(line)
    assert emf["service"] == "webhook"
    assert (emf["WebhooksDelivered"], emf["WebhookRetries"], emf["WebhooksFailed"]) == (0, 30, 1)
    assert emf["OutboxPending"] == 0
    names = [m["Name"] for m in emf["_aws"]["CloudWatchMetrics"][0]["Metrics"]]
    assert names == ["WebhooksDelivered", "WebhookRetries", "WebhooksFailed", "OutboxPending"]


def test_a_receiver_that_does_not_answer_is_retried(tmp_path: Path) -> None:
    clock = Clock()
    outbox = Outbox(tmp_path, clock=clock)
    queued(outbox)
    script = Script([200], hang_seconds=2.0)
    with receiver(script) as url:
        deliverer(outbox, url, clock, timeout=0.3).deliver_due()
        [entry] = outbox.pending()
    assert entry.record["last_error"] == "no answer within 0.3 s"


def test_no_listener_and_a_redirect_are_failures_too(tmp_path: Path) -> None:
    clock = Clock()
    outbox = Outbox(tmp_path, clock=clock)
    queued(outbox)
    deliverer(outbox, f"http://127.0.0.1:{free_port()}/", clock).deliver_due()
    [entry] = outbox.pending()
    assert entry.record["last_error"] == "Connection refused"
    clock.now += 30
    script = Script([302])
    with receiver(script) as url:
        deliverer(outbox, url, clock).deliver_due()
    [entry] = outbox.pending()
    assert entry.record["last_error"] == "HTTP 302"
    assert len(script.requests) == 1  # the Location was not followed


def test_the_running_thread_delivers_what_this_and_other_processes_add(tmp_path: Path) -> None:
    script = Script([204])
    with receiver(script) as url:
        outbox = Outbox(tmp_path)
        worker = WebhookDeliverer(outbox, url, SECRET, poll_seconds=0.2)
        worker.start()
        try:
            queued(outbox, 20)  # woken by the emit
            wait_for(lambda: len(script.requests) == 20, timeout=10)
            queued(Outbox(tmp_path), 5)  # another process's outbox object: found by polling
            wait_for(lambda: len(script.requests) == 25, timeout=10)
        finally:
            worker.stop()
    ids = [r.headers["Inlet-Event-Id"] for r in script.requests]
    assert len(set(ids)) == 25
    assert outbox.pending_count() == 0
