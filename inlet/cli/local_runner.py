"""The local pipeline runner of `inlet up`: parse → index in-process, right after each message
is stored.

It calls the same steps as the Lambdas (inlet.pipeline) on the embedded adapters. One worker
thread runs every step in order, so the SQLite index sees one writer from this process and a
message is never processed twice at once. Anything stored but not yet processed (a crash, a
stop with work queued) is found by the catch-up pass at start-up; retention runs on a timer.
"""

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime

from inlet.envelope import Envelope
from inlet.errors import InletError
from inlet.events import EventSink, NoEvents
from inlet.expiry_sweep import RetentionReport, run_retention
from inlet.index import Index
from inlet.message_store import MessageStore
from inlet.pipeline import Verdicts, index_and_emit, parse_stored
from inlet.retention_policy import RetentionPolicy

log = logging.getLogger(__name__)

RETENTION_INTERVAL = 3600.0


class LocalRunner:
    def __init__(
        self,
        messages: MessageStore,
        index: Index,
        policy: RetentionPolicy,
        *,
        verdicts: Verdicts,
        events: EventSink | None = None,
        retention_interval: float = RETENTION_INTERVAL,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.messages = messages
        self.index = index
        self.policy = policy
        self._clock = clock
        self._verdicts = verdicts
        self.events: EventSink = events or NoEvents()
        self._interval = retention_interval
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pipeline")
        self._stop = threading.Event()
        self._timer: threading.Thread | None = None

    def start(self) -> Future[int]:
        """Queue the catch-up pass, then retention, and start the retention timer."""
        caught_up = self._worker.submit(self.catch_up)
        self._timer = threading.Thread(target=self._retention_timer, name="retention", daemon=True)
        self._timer.start()
        return caught_up

    def on_stored(self, envelope: Envelope) -> None:
        """The relay's hook: called once the message is stored and `250` is on its way."""
        self._worker.submit(self._process, envelope.id, time.monotonic())

    def process(self, message_id: str) -> None:
        """Parse, index and emit one message now (in the caller's thread)."""
        document = parse_stored(
            self.messages, message_id, now=self._clock(), verdicts=self._verdicts
        )
        index_and_emit(self.index, self.events, document)

    def catch_up(self) -> int:
        """Process every stored message whose document or index records are missing."""
        parsed = set(self.messages.parsed_ids())
        done = 0
        for message_id in self.messages.message_ids():
            if self._stop.is_set():
                break
            try:
                if message_id not in parsed:
                    self.process(message_id)
                    done += 1
                elif self.index.get(message_id) is None:
                    document = self.messages.load_document(message_id)
                    if document is not None:
                        index_and_emit(self.index, self.events, document)
                        done += 1
            except InletError as exc:
                log.warning("catch-up failed", extra={"message_id": message_id, "error": str(exc)})
        if done:
            log.info("caught up", extra={"processed": done})
        return done

    def retention(self, *, dry_run: bool = False) -> RetentionReport:
        return run_retention(
            self.messages, self.index, self.policy, now=self._clock(), dry_run=dry_run
        )

    def close(self) -> None:
        """Finish what is queued (each step is short), then stop."""
        self._stop.set()
        self._worker.shutdown(wait=True)
        if self._timer is not None:
            self._timer.join(timeout=5)

    def _process(self, message_id: str, stored_at: float) -> None:
        try:
            self.process(message_id)
        except InletError as exc:
            # Left for the catch-up pass at the next start; the message itself is safe.
            log.error("processing failed", extra={"message_id": message_id, "error": str(exc)})
            return
        latency_ms = round((time.monotonic() - stored_at) * 1000, 1)
        log.info("indexed", extra={"message_id": message_id, "latency_ms": latency_ms})

    def _retention_timer(self) -> None:
        while True:
            try:
                self._worker.submit(self._retention_quietly)
            except RuntimeError:
                return  # the worker was shut down
            if self._stop.wait(self._interval):
                return

    def _retention_quietly(self) -> None:
        try:
            self.retention()
        except InletError as exc:
            log.error("retention failed", extra={"error": str(exc)})
