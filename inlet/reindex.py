"""Reindex: rebuild the index from the message store, its disaster recovery.

The index is derived data: every entry comes from a document under parsed/ (or, for a message
stored but never parsed, from its envelope, as a "stored" entry so it stays findable), and every
hold from holds/. `reindex` puts them all again; it is idempotent (a put of what is there
already changes nothing) and does not remove entries (run it on an empty index to drop those of
messages that are gone).

Holds first: holds set before they were recorded in the message store exist only in the index.
`migrate_holds` records each of them under holds/ (held_by "migrated from the index"), and
`reindex` runs it before anything else, so a rebuild after it can never lose one.

No events are emitted: this is recovery, and consumers had every event when the message was
first indexed (`inlet replay` sends them again if needed).

One message at a time, listed in key order: raw/ and parsed/ are walked side by side (both sort
by id), so memory does not grow with the store. Had the two orders ever disagreed, the result
would be the same: a "stored" entry never replaces a parsed one, so an extra stored put is only
an extra write.
"""

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from inlet.errors import ConfigError, InletError, NotFoundError
from inlet.index import Index
from inlet.message_store import Hold, MessageStore
from inlet.parsing import stored_document

log = logging.getLogger(__name__)

MIGRATED_BY = "migrated from the index"


@dataclass(slots=True)
class ReindexReport:
    documents: int = 0  # parsed or quarantined documents indexed
    stored_only: int = 0  # raw messages with no document, indexed as "stored"
    holds_applied: int = 0
    holds_migrated: int = 0
    failed: int = 0
    seconds: float = 0.0
    failed_ids: list[str] = field(default_factory=list)  # "<id>: why"

    def fail(self, message_id: str, error: Exception) -> None:
        log.warning("reindex: failed", extra={"message_id": message_id, "error": str(error)})
        self.failed += 1
        self.failed_ids.append(f"{message_id}: {error}")

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def migrate_holds(
    messages: MessageStore, index: Index, *, now: datetime, report: ReindexReport | None = None
) -> ReindexReport:
    """Record under holds/ every hold the index has and the store does not. Idempotent."""
    report = report or ReindexReport()
    recorded = set(messages.held_ids())  # holds are few: a set of them is small
    held_at = now.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    for message_id in index.held_ids():
        if message_id in recorded:
            continue
        try:
            messages.save_hold(Hold(id=message_id, held_at=held_at, held_by=MIGRATED_BY))
        except (InletError, ValueError) as exc:
            report.fail(message_id, exc)
            continue
        report.holds_migrated += 1
    return report


def reindex(
    messages: MessageStore,
    index: Index,
    *,
    now: datetime,
    clock: Callable[[], float] = time.monotonic,
) -> ReindexReport:
    """Migrate the index's holds, index every document and every message stored but not
    parsed, then set every recorded hold. A message that fails is reported and the rest go
    on; a ConfigError (a missing table) stops the run, as every message would fail alike."""
    started = clock()
    report = migrate_holds(messages, index, now=now)
    parsed = _Ahead(messages.parsed_ids())
    for message_id in messages.message_ids():
        while parsed.head is not None and parsed.head < message_id:
            _put_document(messages, index, parsed.take(), report)  # its raw/ is gone
        if parsed.head == message_id:
            _put_document(messages, index, parsed.take(), report)
        else:
            _put_stored(messages, index, message_id, report)
    while parsed.head is not None:
        _put_document(messages, index, parsed.take(), report)
    for message_id in messages.held_ids():
        try:
            index.hold(message_id)
        except ConfigError:
            raise
        except InletError as exc:
            report.fail(message_id, exc)
            continue
        report.holds_applied += 1
    report.seconds = round(clock() - started, 3)
    return report


def _put_document(
    messages: MessageStore, index: Index, message_id: str, report: ReindexReport
) -> None:
    try:
        document = messages.load_document(message_id)
        if document is None:
            return  # removed since it was listed (retention)
        index.put(document)
    except ConfigError:
        raise
    except InletError as exc:  # an unreadable document is a PermanentError
        report.fail(message_id, exc)
        return
    report.documents += 1


def _put_stored(
    messages: MessageStore, index: Index, message_id: str, report: ReindexReport
) -> None:
    try:
        index.put(stored_document(messages.load_envelope(message_id)))
    except NotFoundError:
        return  # removed since it was listed
    except ConfigError:
        raise
    except InletError as exc:  # an unreadable envelope included
        report.fail(message_id, exc)
        return
    report.stored_only += 1


class _Ahead:
    """An iterator with its next item in view."""

    def __init__(self, items: Iterator[str]) -> None:
        self._items = items
        self.head: str | None = next(items, None)

    def take(self) -> str:
        item = self.head
        assert item is not None
        self.head = next(self._items, None)
        return item


__all__ = ["MIGRATED_BY", "ReindexReport", "migrate_holds", "reindex"]
