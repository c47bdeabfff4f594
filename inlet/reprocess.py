"""Reprocessing: parse stored raw messages again with the current parser, then index them.

After a parser fix (a new PARSER_VERSION), the raw objects are the truth and every document is
derived from them, so each message in a time range goes through the same step as the first
time (inlet.pipeline.parse_stored), with three differences that make a re-run safe:

- Authentication verdicts are kept: DNS now is not DNS at receipt (DKIM keys rotate, SPF
  records change), so a verdict computed when the message arrived is the better record of it.
  Only a document without verdicts (parsed before they existed, quarantined, or whose
  computation failed) gets them now; `recheck_authentication` recomputes them all.
- Attachments the new document no longer names (the fixed parser may name or number them
  differently) are deleted after the new document is saved, never before: a crash in between
  leaves an extra object, which the next run removes, never a document naming a missing one.
  The whole attachments/<id>/ prefix is compared, so leftovers of an earlier interrupted run
  go too.
- A quarantine record goes once the message parses: it no longer says anything true.

Every step rewrites the same keys, and the index replaces an entry and its lookups, so running
it twice gives the same documents (but `parsed_at`), attachments and index records. One
message at a time, as listed: memory does not grow with the range.
"""

import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, cast

from inlet.document import Document
from inlet.envelope import Envelope
from inlet.errors import ConfigError, InletError, NotFoundError, PermanentError
from inlet.events import EventSink
from inlet.index import Index
from inlet.message_store import MessageStore
from inlet.parsing import PARSER_VERSION
from inlet.pipeline import Verdicts, index_and_emit, parse_stored

log = logging.getLogger(__name__)

Status = Literal["parsed", "quarantined", "skipped", "failed"]
AuthenticationSource = Literal["kept", "computed"]

# With a start and no end, the listing runs through tomorrow (UTC): ids come from the relay's
# clock, which may run a little ahead of this one.
OPEN_END = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What reprocessing did to one message."""

    id: str
    status: Status  # skipped: the raw object is gone (retention got there first)
    authentication: AuthenticationSource | None = None  # None: not parsed, so no verdicts
    removed: tuple[str, ...] = ()  # attachment keys deleted
    error: str | None = None  # why it failed
    # The new document, for a caller that acts on it (events); not kept by the report.
    document: Document | None = field(default=None, repr=False, compare=False)


@dataclass(slots=True)
class ReprocessReport:
    parser_version: str = PARSER_VERSION
    examined: int = 0
    parsed: int = 0
    quarantined: int = 0
    skipped: int = 0
    failed: int = 0
    authentication_kept: int = 0
    authentication_computed: int = 0
    attachments_removed: int = 0
    failed_ids: list[str] = field(default_factory=list)

    def add(self, outcome: Outcome) -> None:
        self.examined += 1
        setattr(self, outcome.status, getattr(self, outcome.status) + 1)
        if outcome.status == "failed":
            self.failed_ids.append(outcome.id)
        if outcome.authentication == "kept":
            self.authentication_kept += 1
        elif outcome.authentication == "computed":
            self.authentication_computed += 1
        self.attachments_removed += len(outcome.removed)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def ids_in_range(
    messages: MessageStore, since: datetime | None, until: datetime | None, *, now: datetime
) -> Iterator[str]:
    """The stored raw messages received in [since, until), oldest first, streamed."""
    if since is not None and until is None:
        until = max(now, since) + OPEN_END
    return messages.ids_received_in(since, until)


def reprocess(
    messages: MessageStore,
    index: Index,
    *,
    since: datetime | None,
    until: datetime | None,
    now: datetime,
    verdicts: Verdicts,
    events: EventSink,
    recheck_authentication: bool = False,
) -> Iterator[Outcome]:
    """Reprocess every stored message in [since, until), one at a time, yielding each outcome
    as it is done. A failing message is reported and the rest go on; a ConfigError (a missing
    table, say) stops the run, as every message would fail the same way."""
    for message_id in ids_in_range(messages, since, until, now=now):
        yield reprocess_message(
            messages,
            index,
            message_id,
            now=now,
            verdicts=verdicts,
            events=events,
            recheck_authentication=recheck_authentication,
        )


def reprocess_message(
    messages: MessageStore,
    index: Index,
    message_id: str,
    *,
    now: datetime,
    verdicts: Verdicts,
    events: EventSink,
    recheck_authentication: bool = False,
) -> Outcome:
    """Parse one stored message again, save, index and emit its document (the same event id
    as at receipt, so consumers see a repeat they can drop, or the `Message Received` of a
    message that was quarantined until now), then remove what the old
    document had that the new one does not (attachments, the quarantine record)."""
    try:
        previous = None if recheck_authentication else _previous_verdicts(messages, message_id)
        chosen = _Chosen(verdicts, previous)
        document = parse_stored(messages, message_id, now=now, verdicts=chosen)
        # After the save: a crash from here on leaves extra objects, never missing ones.
        removed = messages.remove_attachments_except(
            message_id, {item["key"] for item in document["attachments"]}
        )
        if document["status"] == "parsed":
            messages.remove_quarantine(message_id)
        index_and_emit(index, events, document)
    except NotFoundError:
        log.info("raw message gone, skipped", extra={"message_id": message_id})
        return Outcome(message_id, "skipped")
    except ConfigError:
        raise
    except InletError as exc:
        log.warning("reprocess failed", extra={"message_id": message_id, "error": str(exc)})
        return Outcome(message_id, "failed", error=str(exc))
    status: Status = "parsed" if document["status"] == "parsed" else "quarantined"
    return Outcome(message_id, status, chosen.source, tuple(removed), document=document)


def _previous_verdicts(messages: MessageStore, message_id: str) -> object | None:
    """The verdicts of the message's current document; None if it has none (or none can be
    read: a document that is not JSON is one more reason to parse again)."""
    try:
        old = messages.load_document(message_id)
    except ConfigError:
        raise
    except PermanentError as exc:
        log.warning("old document unreadable", extra={"message_id": message_id, "error": str(exc)})
        return None
    if old is None:
        return None
    # Read as the JSON it is: documents from before verdicts existed have no such key.
    return cast(Mapping[str, Any], old).get("authentication")


class _Chosen:
    """The verdicts of one message: the previous document's when it has them, else computed
    now; remembers which, for the report."""

    def __init__(self, compute: Verdicts, previous: object | None) -> None:
        self._compute = compute
        self._previous = previous
        self.source: AuthenticationSource | None = None

    def __call__(self, raw: Sequence[bytes], envelope: Envelope) -> Any:
        if self._previous is not None:
            self.source = "kept"
            return self._previous
        self.source = "computed"
        return self._compute(raw, envelope)
