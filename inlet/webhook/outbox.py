"""The durable outbox of `inlet up`'s webhook: every event is a file before anyone is told.

Layout under `<data dir>/outbox/`:

- `pending/<message id>.<received|quarantined>.json`: to be delivered, with its schedule;
- `delivered/…`: what was delivered and when (kept 7 days, for `inlet show`);
- `failed/…`: given up after the retry window; `inlet replay` queues it again.

A record is `{event, queued_at, attempts, first_attempt_at, next_attempt_at, last_error}`
(times in unix seconds). Every write is a whole file: a temporary file, fsynced, renamed over
the record, and the directory fsynced, so a kill at any point leaves the old record or the new
one, never half of either. That is also what lets other processes add to it: `inlet replay` and
`inlet reprocess` emit here while `inlet up` delivers. Re-emitting an event replaces its record
with a fresh one (a replay restarts the schedule and is signed afresh at sending).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal, TypedDict, cast

from inlet.durable import write_file
from inlet.events import Event, EventsUnavailable

log = logging.getLogger(__name__)

OUTBOX_DIR = "outbox"
PENDING: Final = "pending"
DELIVERED: Final = "delivered"
FAILED: Final = "failed"
State = Literal["pending", "delivered", "failed"]
STATES: tuple[State, ...] = (PENDING, DELIVERED, FAILED)
DELIVERED_KEPT_SECONDS = 7 * 24 * 3600
_SUFFIX = ".json"
# A pending record's (inode, mtime_ns): every write renames a new file into place, so the inode
# changes even when two writes fall within the filesystem's timestamp granularity.
Stamp = tuple[int, int]


class Record(TypedDict):
    event: Event
    queued_at: float
    attempts: int
    first_attempt_at: float | None
    next_attempt_at: float
    last_error: str | None
    done_at: float | None  # delivered or given up


@dataclass(frozen=True, slots=True)
class Entry:
    name: str  # the file name: stable per event id
    state: State
    record: Record


def record_name(event_id: str) -> str:
    """`<id>:received` → `<id>.received.json` (no ':' in file names, for every filesystem)."""
    return event_id.replace(":", ".") + _SUFFIX


class Outbox:
    """An EventSink whose events wait as files until the deliverer has them delivered."""

    def __init__(self, directory: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.directory = directory
        self._clock = clock
        # Set by emit, so an in-process deliverer starts at once instead of at its next poll.
        self.added = threading.Event()

    def _dir(self, state: State) -> Path:
        return self.directory / state

    # EventSink

    def emit(self, events: Sequence[Event]) -> None:
        now = self._clock()
        try:
            for event in events:
                name = record_name(event["detail"]["event_id"])
                record: Record = {
                    "event": event,
                    "queued_at": now,
                    "attempts": 0,
                    "first_attempt_at": None,
                    "next_attempt_at": now,
                    "last_error": None,
                    "done_at": None,
                }
                self._write(PENDING, name, record)
                (self._dir(FAILED) / name).unlink(missing_ok=True)
        except OSError as exc:
            raise EventsUnavailable(f"cannot write the webhook outbox: {exc}") from exc
        if events:
            self.added.set()

    # The deliverer's side

    def pending(self) -> Iterator[Entry]:
        """Every pending record (unordered; a record removed while listing is skipped)."""
        yield from self._entries(PENDING)

    def pending_stamps(self) -> dict[str, Stamp]:
        """Each pending record's name and stamp: what changed since a previous look,
        without reading a file."""
        stamps: dict[str, Stamp] = {}
        try:
            with os.scandir(self._dir(PENDING)) as entries:
                for entry in entries:
                    if entry.name.endswith(_SUFFIX) and not entry.name.startswith("."):
                        try:
                            stat = entry.stat()
                            stamps[entry.name] = (stat.st_ino, stat.st_mtime_ns)
                        except FileNotFoundError:
                            continue  # delivered meanwhile
        except FileNotFoundError:
            pass
        return stamps

    def pending_count(self) -> int:
        return _count(self._dir(PENDING))

    def read(self, state: State, name: str) -> Record | None:
        try:
            return cast(Record, json.loads((self._dir(state) / name).read_bytes()))
        except FileNotFoundError:
            return None

    def stamp(self, name: str) -> Stamp | None:
        try:
            stat = (self._dir(PENDING) / name).stat()
        except FileNotFoundError:
            return None
        return (stat.st_ino, stat.st_mtime_ns)

    def reschedule(self, name: str, record: Record) -> None:
        """Write back a pending record after a failed attempt."""
        self._write(PENDING, name, record)

    def finish(self, name: str, record: Record, state: Literal["delivered", "failed"]) -> None:
        """Move a record out of pending/: written to its new place first, so a kill between
        the two steps leaves it pending (sent again: at least once), never nowhere. A delivered
        record is not fsynced: lost in a crash, its pending record (whose removal is not
        synced either) is sent again, which is what at least once allows; this halves the
        disk flushes per event (bench/README.md, "webhook")."""
        self._write(state, name, record, sync=state != DELIVERED)
        (self._dir(PENDING) / name).unlink(missing_ok=True)
        if state == DELIVERED:
            (self._dir(FAILED) / name).unlink(missing_ok=True)

    def prune_delivered(self, *, older_than: float = DELIVERED_KEPT_SECONDS) -> int:
        cutoff = self._clock() - older_than
        removed = 0
        for entry in self._entries(DELIVERED):
            if (entry.record["done_at"] or 0) < cutoff:
                (self._dir(DELIVERED) / entry.name).unlink(missing_ok=True)
                removed += 1
        return removed

    # For `inlet show`

    def status_of(self, message_id: str) -> list[Entry]:
        """The records of a message's events, wherever they are."""
        found = []
        for state in STATES:
            for kind in ("received", "quarantined"):
                name = record_name(f"{message_id}:{kind}")
                record = self.read(state, name)
                if record is not None:
                    found.append(Entry(name, state, record))
        return found

    # Files

    def _entries(self, state: State) -> Iterator[Entry]:
        try:
            names = os.listdir(self._dir(state))
        except FileNotFoundError:
            return
        for name in names:
            if not name.endswith(_SUFFIX) or name.startswith("."):
                continue
            try:
                record = self.read(state, name)
            except (OSError, ValueError) as exc:
                log.warning("unreadable outbox record", extra={"record": name, "error": str(exc)})
                continue
            if record is not None:
                yield Entry(name, state, record)

    def _write(self, state: State, name: str, record: Record, *, sync: bool = True) -> None:
        data = json.dumps(record, separators=(",", ":")).encode()
        write_file(self._dir(state) / name, data, sync=sync)


def _count(directory: Path) -> int:
    try:
        return sum(
            1 for n in os.listdir(directory) if n.endswith(_SUFFIX) and not n.startswith(".")
        )
    except FileNotFoundError:
        return 0


def describe(entry: Entry) -> dict[str, Any]:
    """A record as `inlet show` reports it (times as ISO 8601 UTC)."""
    record = entry.record
    return {
        "event_id": record["event"]["detail"]["event_id"],
        "state": entry.state,
        "attempts": record["attempts"],
        "queued_at": _iso(record["queued_at"]),
        "next_attempt_at": _iso(record["next_attempt_at"]) if entry.state == PENDING else None,
        "done_at": _iso(record["done_at"]),
        "last_error": record["last_error"],
    }


def _iso(stamp: float | None) -> str | None:
    if stamp is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stamp))
