"""Replay: emit the events of chosen messages again, built afresh from their documents.

The documents are the record: an event is a pure function of its document (inlet.events), so a
replay sends what the first delivery sent (the same event_id and time), whichever sink is
configured: the local webhook outbox (which signs it afresh when it sends) or the EventBridge
bus. A message not parsed yet has no event to replay (it gets one when it is indexed); one whose
document is gone (retention) is skipped. Events go out in batches of `BATCH` (one PutEvents
call on AWS).
"""

import logging
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field

from inlet.errors import InletError, NotFoundError
from inlet.events import Event, EventSink, event_of
from inlet.ids import check_id
from inlet.message_store import MessageStore

log = logging.getLogger(__name__)

BATCH = 10  # PutEvents takes at most ten entries


@dataclass(slots=True)
class ReplayReport:
    emitted: int = 0
    not_parsed: int = 0  # stored only, or nothing under parsed/ (retention took it)
    failed: int = 0
    emitted_ids: list[str] = field(default_factory=list)
    failed_ids: list[str] = field(default_factory=list)
    not_parsed_ids: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def replay(
    messages: MessageStore, events: EventSink, ids: Iterable[str], *, dry_run: bool = False
) -> ReplayReport:
    """Emit the event of each message in `ids`, in order. A batch the sink refuses is reported
    as failed (its ids) and the rest go on."""
    report = ReplayReport()
    batch: list[Event] = []
    for event in _events(messages, ids, report):
        batch.append(event)
        if len(batch) == BATCH:
            _send(events, batch, report, dry_run=dry_run)
    _send(events, batch, report, dry_run=dry_run)
    return report


def _events(messages: MessageStore, ids: Iterable[str], report: ReplayReport) -> Iterator[Event]:
    for message_id in ids:
        try:
            document = messages.load_document(check_id(message_id))
        except NotFoundError:
            document = None
        except InletError as exc:
            log.warning("replay: document unreadable", extra={"message_id": message_id})
            report.failed += 1
            report.failed_ids.append(f"{message_id}: {exc}")
            continue
        event = None if document is None else event_of(document)
        if event is None:
            report.not_parsed += 1
            report.not_parsed_ids.append(message_id)
            continue
        yield event


def _send(events: EventSink, batch: list[Event], report: ReplayReport, *, dry_run: bool) -> None:
    if not batch:
        return
    ids = [event["detail"]["id"] for event in batch]
    try:
        if not dry_run:
            events.emit(batch)
    except InletError as exc:
        log.warning("replay: events not taken", extra={"count": len(batch), "error": str(exc)})
        report.failed += len(batch)
        report.failed_ids += [f"{message_id}: {exc}" for message_id in ids]
    else:
        report.emitted += len(batch)
        report.emitted_ids += ids
    batch.clear()
