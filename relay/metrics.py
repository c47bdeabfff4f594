"""Relay metrics, aggregated in memory and written as one CloudWatch Embedded Metric Format
document per interval (never a line per message).

The names here are the contract with the CDK app's alarms and dashboard (tests/infra holds them
together in a test): namespace `Inlet`, dimension `service=relay`, and `ReplyCode` on `Replies`.
"""

import json
import random
import time
from collections import Counter
from typing import Any, TextIO

from inlet.emf import NAMESPACE as NAMESPACE  # the contract with infra and the tests
from inlet.emf import SERVICE_DIMENSION as SERVICE_DIMENSION
from inlet.emf import emf_document

SERVICE = "relay"
REPLY_CODE_DIMENSION = "ReplyCode"
SESSIONS = "Sessions"
REPLIES = "Replies"
# Every 4xx and 5xx of `Replies` in one sum: what the refusal-rate alarm divides (a CloudWatch
# alarm's metric math takes at most 10 metrics, fewer than the relay has reply codes).
REFUSED = "Refused"
MESSAGES_STORED = "MessagesStored"
BYTES_STORED = "BytesStored"
STORE_LATENCY = "StoreLatency"
STORE_FAILURES = "StoreFailures"
# EMF allows at most 100 values per metric in one document: latencies are reservoir-sampled.
_MAX_VALUES = 100


class RelayMetrics:
    def __init__(self, *, clock: Any = time.time) -> None:
        self._clock = clock
        self._reset()

    def _reset(self) -> None:
        self.sessions = 0
        self.replies: Counter[str] = Counter()
        self.refused = 0
        self.messages_stored = 0
        self.bytes_stored = 0
        self.store_failures = 0
        self._latencies: list[float] = []
        self._latency_seen = 0

    def session_opened(self) -> None:
        self.sessions += 1

    def reply(self, code: int) -> None:
        self.replies[str(code)] += 1
        if code >= 400:
            self.refused += 1

    def stored(self, size: int, seconds: float) -> None:
        self.messages_stored += 1
        self.bytes_stored += size
        self._latency(seconds * 1000)

    def store_failed(self) -> None:
        self.store_failures += 1

    def _latency(self, ms: float) -> None:
        self._latency_seen += 1
        if len(self._latencies) < _MAX_VALUES:
            self._latencies.append(ms)
        else:
            slot = random.randrange(self._latency_seen)  # noqa: S311 - sampling, not security
            if slot < _MAX_VALUES:
                self._latencies[slot] = ms

    def documents(self) -> list[dict[str, Any]]:
        """The EMF documents for everything counted since the last flush, then reset."""
        stamp = int(self._clock() * 1000)
        counts: dict[str, Any] = {
            SESSIONS: (self.sessions, "Count"),
            MESSAGES_STORED: (self.messages_stored, "Count"),
            BYTES_STORED: (self.bytes_stored, "Bytes"),
            STORE_FAILURES: (self.store_failures, "Count"),
            REFUSED: (self.refused, "Count"),
        }
        if self._latencies:
            counts[STORE_LATENCY] = ([round(v, 3) for v in self._latencies], "Milliseconds")
        docs = [emf_document(stamp, [[SERVICE_DIMENSION]], {SERVICE_DIMENSION: SERVICE}, counts)]
        for code, n in sorted(self.replies.items()):
            docs.append(
                emf_document(
                    stamp,
                    [[SERVICE_DIMENSION, REPLY_CODE_DIMENSION]],
                    {SERVICE_DIMENSION: SERVICE, REPLY_CODE_DIMENSION: code},
                    {REPLIES: (n, "Count")},
                )
            )
        self._reset()
        return docs

    def flush(self, out: TextIO) -> None:
        for doc in self.documents():
            out.write(json.dumps(doc, separators=(",", ":")) + "\n")
        out.flush()
