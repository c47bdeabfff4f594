"""The webhook deliverer of `inlet up`: sends what the outbox holds, on the retry schedule.

One thread watches `pending/` (woken at once by an emit in this process, and polling for the
records other processes add); due records are POSTed by a small pool, in order of their next
attempt. Each request is signed when it is sent, so a retry or a replay carries a fresh `t`.
A 2xx is delivered; anything else, a timeout or no connection is tried again after
`retry_seconds`, doubling up to an hour (inlet.webhook.schedule), until a day has passed since
the first attempt: then the record moves to `failed/`, an error is logged, and `inlet show`
names it. The URL's host is logged, never its path, the secret or a body.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TextIO

from inlet.emf import SERVICE_DIMENSION, emf_document
from inlet.webhook.outbox import DELIVERED, FAILED, PENDING, Outbox, Stamp
from inlet.webhook.schedule import WINDOW_SECONDS, retry_delay
from inlet.webhook.send import TIMEOUT_SECONDS, Post, attempt, host_of, post

log = logging.getLogger(__name__)

SERVICE = "webhook"  # the metrics' service dimension, as the webhook function's on AWS
WEBHOOKS_DELIVERED = "WebhooksDelivered"
WEBHOOK_RETRIES = "WebhookRetries"
WEBHOOKS_FAILED = "WebhooksFailed"
OUTBOX_PENDING = "OutboxPending"
_BATCH = 64  # due records taken per pass, so a stop is noticed between batches
_PRUNE_INTERVAL = 3600.0


class WebhookDeliverer:
    def __init__(
        self,
        outbox: Outbox,
        url: str,
        secret: str,
        *,
        retry_seconds: int = 30,
        timeout: float = TIMEOUT_SECONDS,
        workers: int = 4,
        poll_seconds: float = 1.0,
        window: float = WINDOW_SECONDS,
        metrics_interval: float = 60.0,
        metrics_out: TextIO | None = None,
        clock: Callable[[], float] = time.time,
        send: Post = post,
    ) -> None:
        self.outbox = outbox
        self._url = url
        self.host = host_of(url)
        self._secret = secret
        self._retry_seconds = retry_seconds
        self._timeout = timeout
        self._poll = poll_seconds
        self._window = window
        self._clock = clock
        self._send = send
        self._metrics_interval = metrics_interval
        self._metrics_out = metrics_out
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="webhook")
        self._stop = threading.Event()
        # name → (stamp, next_attempt_at, queued_at) of the pending records last read.
        self._known: dict[str, tuple[Stamp, float, float]] = {}
        self._thread: threading.Thread | None = None
        self._counts_lock = threading.Lock()
        self.delivered = self.retries = self.failed = 0
        self._flushed = (0, 0, 0)

    # Lifecycle

    def start(self) -> None:
        pending = self.outbox.pending_count()
        if pending:
            log.info("webhook outbox has pending events", extra={"pending": pending})
        self._thread = threading.Thread(target=self._run, name="webhook-outbox", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        """Stop taking records; a request in flight finishes (or times out) first. What is not
        delivered stays pending for the next start."""
        self._stop.set()
        self.outbox.added.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.flush_metrics()

    # One pass

    def deliver_due(self) -> float | None:
        """Attempt every due record, oldest schedule first. Returns when the next one falls
        due (unix time), None if nothing is pending."""
        while not self._stop.is_set():
            now = self._clock()
            due: list[tuple[float, float, str, Stamp]] = []
            upcoming: float | None = None
            for name, stamp, at, queued_at in self._schedule():
                if at <= now:
                    due.append((at, queued_at, name, stamp))
                elif upcoming is None or at < upcoming:
                    upcoming = at
            if not due:
                return upcoming
            due.sort()
            batch = [(name, stamp) for _, _, name, stamp in due[:_BATCH]]
            list(self._pool.map(lambda item: self._attempt(*item), batch))
        return None

    def _schedule(self) -> list[tuple[str, Stamp, float, float]]:
        """(name, stamp, next attempt, queued at) of each pending record. A record is read
        only when its file changed since the last pass: with many events waiting on a
        receiver that is down, a pass lists the directory instead of reading every file."""
        stamps = self.outbox.pending_stamps()
        for name in self._known.keys() - stamps.keys():
            del self._known[name]
        schedule = []
        for name, stamp in stamps.items():
            known = self._known.get(name)
            if known is None or known[0] != stamp:
                record = self.outbox.read(PENDING, name)
                if record is None:
                    continue
                known = (stamp, record["next_attempt_at"], record["queued_at"])
                self._known[name] = known
            schedule.append((name, *known))
        return schedule

    def _attempt(self, name: str, read_stamp: Stamp) -> None:
        record = self.outbox.read(PENDING, name)
        if record is None or self.outbox.stamp(name) != read_stamp:
            return  # delivered, or emitted again, since it was listed: the next pass sees it
        event = record["event"]
        event_id = event["detail"]["event_id"]
        now = self._clock()
        outcome = attempt(
            self._url, self._secret, event, now=int(now), timeout=self._timeout, send=self._send
        )
        status, error = outcome.status, outcome.error
        done = self._clock()
        if self.outbox.stamp(name) != read_stamp:
            # Emitted again while this attempt ran (a replay): the fresh record stands.
            return
        record["attempts"] += 1
        first = record["first_attempt_at"]
        if first is None:
            first = record["first_attempt_at"] = now
        record["last_error"] = error
        fields = {"event_id": event_id, "host": self.host, "attempt": record["attempts"]}
        if error is None:
            record["done_at"] = done
            self.outbox.finish(name, record, DELIVERED)
            self._count("delivered")
            log.info("webhook delivered", extra={**fields, "status": status})
        elif done - first >= self._window:
            record["done_at"] = done
            self.outbox.finish(name, record, FAILED)
            self._count("failed")
            log.error(
                "webhook gave up: inlet replay --id sends it again",
                extra={**fields, "error": error},
            )
        else:
            delay = retry_delay(self._retry_seconds, record["attempts"])
            record["next_attempt_at"] = done + delay
            self.outbox.reschedule(name, record)
            self._count("retries")
            log.warning(
                "webhook failed, will retry",
                extra={**fields, "error": error, "retry_in_seconds": delay},
            )

    # The thread

    def _run(self) -> None:
        next_metrics = time.monotonic() + self._metrics_interval
        next_prune = 0.0
        while not self._stop.is_set():
            if time.monotonic() >= next_prune:
                self.outbox.prune_delivered()
                next_prune = time.monotonic() + _PRUNE_INTERVAL
            self.outbox.added.clear()
            try:
                upcoming = self.deliver_due()
            except OSError as exc:  # the outbox itself (a full disk): keep trying
                log.error("webhook outbox unavailable", extra={"error": str(exc)})
                upcoming = None
            if time.monotonic() >= next_metrics:
                self.flush_metrics()
                next_metrics = time.monotonic() + self._metrics_interval
            wait = self._poll
            if upcoming is not None:
                wait = max(0.0, min(wait, upcoming - self._clock()))
            self.outbox.added.wait(wait)

    # Metrics

    def _count(self, what: str) -> None:
        with self._counts_lock:
            setattr(self, what, getattr(self, what) + 1)

    def flush_metrics(self) -> None:
        """One EMF line: the counts since the last line, and how many events wait."""
        if self._metrics_out is None:
            return
        with self._counts_lock:
            totals = (self.delivered, self.retries, self.failed)
            delivered, retries, failed = (a - b for a, b in zip(totals, self._flushed, strict=True))
            self._flushed = totals
        doc = emf_document(
            int(time.time() * 1000),
            [[SERVICE_DIMENSION]],
            {SERVICE_DIMENSION: SERVICE},
            {
                WEBHOOKS_DELIVERED: (delivered, "Count"),
                WEBHOOK_RETRIES: (retries, "Count"),
                WEBHOOKS_FAILED: (failed, "Count"),
                OUTBOX_PENDING: (self.outbox.pending_count(), "Count"),
            },
        )
        self._metrics_out.write(json.dumps(doc, separators=(",", ":")) + "\n")
        self._metrics_out.flush()
