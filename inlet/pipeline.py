"""The processing steps after a message is stored, shared by the Lambdas and `inlet up`.

parse: raw message + envelope → parsed document (+ attachments), or a quarantine record.
index: parsed document → index records, then its event (inlet.events). Both are idempotent:
keys derive from the id only, so a redelivered event rewrites the same objects and records.
"""

import logging
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime

from inlet.authentication.results import Authentication
from inlet.document import Document
from inlet.envelope import Envelope
from inlet.errors import InletError, NotFoundError
from inlet.events import EventSink, event_of
from inlet.ids import check_id, id_time
from inlet.index import Index
from inlet.message_store import MessageStore, UnreadableEnvelope
from inlet.parsing import ParseError, parse_message, quarantine_document

log = logging.getLogger(__name__)

# The authentication verdicts of a message (its raw bytes as stored, as a sequence of chunks;
# the complete envelope); never raises for DNS trouble, which is a temperror inside the
# verdicts. inlet.authentication.Authenticator is the one that asks DNS.
Verdicts = Callable[[Sequence[bytes], Envelope], Authentication | None]


def no_verdicts(raw: Sequence[bytes], envelope: Envelope) -> None:
    """No verdicts (`authentication: null`, which `inlet reprocess` fills later): for tests
    and tools that must not ask DNS."""
    return None


def parse_stored(
    messages: MessageStore, message_id: str, *, now: datetime, verdicts: Verdicts
) -> Document:
    """Parse a stored message, add its authentication verdicts, and write its document.
    NotFoundError if the raw object is gone (a stale event after retention); TransientError if
    storage failed (retry later)."""
    check_id(message_id)
    try:
        raw = messages.read(message_id)  # one request: bytes and metadata
    except UnreadableEnvelope as exc:
        return _quarantine(
            messages, quarantine_document(_unknown_envelope(message_id), str(exc), now)
        )
    envelope = raw.envelope

    def save_attachment(
        index: int, safe_filename: str, data: bytes, content_type: str, sha256: bytes
    ) -> str:
        # Under the envelope's id, as the document names it.
        return messages.save_attachment(
            envelope.id, index, safe_filename, data, content_type, sha256
        )

    # The verdicts need the bytes (DKIM hashes the body, ARC the sets); the parser takes them
    # as read, so the chunks are kept on the way, not read twice.
    chunks: list[bytes] = []

    def kept() -> Iterator[bytes]:
        for chunk in raw:
            chunks.append(chunk)
            yield chunk

    try:
        document = parse_message(kept(), envelope, save_attachment=save_attachment, parsed_at=now)
    except ParseError as exc:
        return _quarantine(messages, quarantine_document(envelope, str(exc), now))
    except (InletError, MemoryError):
        raise  # storage trouble is retried; a Lambda out of memory needs more, not quarantine
    except Exception as exc:
        # A parser bug must not loop through retries forever; the raw object stays for a
        # re-parse once fixed.
        log.exception("parser raised", extra={"message_id": message_id})
        reason = f"parser raised {type(exc).__name__}: {exc}"
        return _quarantine(messages, quarantine_document(envelope, reason, now))
    # Joined once here and the chunks let go: the verdicts need the bytes whole (dkimpy), and
    # joining them again would hold the message twice more (a one-element join is free).
    whole = b"".join(chunks)
    chunks.clear()
    document["authentication"] = _verdicts_of(verdicts, [whole], envelope)
    messages.save_document(message_id, document)
    return document


def _verdicts_of(
    verdicts: Verdicts, raw: Sequence[bytes], envelope: Envelope
) -> Authentication | None:
    """The verdicts, or None (no verdicts: `inlet reprocess` can add them later) if computing
    them raised, which they never should: a fault there must not keep the message from its
    document, nor loop through retries."""
    try:
        return verdicts(raw, envelope)
    except MemoryError:
        raise
    except Exception:
        log.exception("authentication verdicts raised", extra={"message_id": envelope.id})
        return None


def index_parsed(
    messages: MessageStore, index: Index, message_id: str, *, events: EventSink
) -> Document:
    """Index a parsed (or quarantined) document, then emit its event. NotFoundError if the
    document is gone."""
    document = messages.load_document(message_id)
    if document is None:
        raise NotFoundError(f"no parsed document for {message_id}")
    index_and_emit(index, events, document)
    return document


def index_and_emit(index: Index, events: EventSink, document: Document) -> None:
    """The last step for every message, locally and on AWS: index the document, then hand its
    event to the sink. In this order, so a consumer that gets the event finds the message by
    search; an emit that fails raises (TransientError) and the whole step is retried — the
    index write is idempotent, and consumers drop a repeated event by its event_id."""
    index.put(document)
    event = event_of(document)
    if event is not None:
        events.emit([event])


def _quarantine(messages: MessageStore, document: Document) -> Document:
    messages.quarantine(document)
    log.warning(
        "message quarantined", extra={"message_id": document["id"], "reason": document["reason"]}
    )
    return document


def _unknown_envelope(message_id: str) -> Envelope:
    """Stands in for an envelope that cannot be read, so the message stays listed by id."""
    return Envelope(
        id=message_id,
        received_at=id_time(message_id).isoformat().replace("+00:00", "Z"),
        mail_from="",
        rcpt_to=[],
        helo=None,
        client_ip=None,
        client_port=None,
        proxied_from=None,
        tls=None,
        auth_user=None,
        size=0,
        sha256="",
        relay="",
        extra={"envelope_unreadable": True},
    )
