"""The message store: every piece of a message, kept over the blob-store port.

With inlet.keys, this is the only module that knows where a message's pieces live (raw bytes,
envelope, parsed document, attachments, quarantine record) and the envelope rule:

- S3 user metadata holds at most 2 KB, so the envelope travels in the raw object's metadata
  (`inlet-envelope`, ASCII JSON) only when it fits there whole; otherwise it is an object of
  its own under envelope/, written before the raw object becomes visible, and the metadata
  names it (`inlet-envelope-key`). Readers always get the complete envelope.
- Writing a message (`begin` → IncomingMessage): bytes arrive in order through `write`;
  nothing is visible until `commit`. A message that fits in one request is a single put; a
  larger one streams through `BlobStore.begin` (multipart semantics). Any failure leaves
  nothing behind: the upload is aborted and what was written is deleted.

Every method blocks (it does I/O); the relay calls them from a worker thread.
"""

import calendar
import hashlib
import json
import logging
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import cast

from inlet import keys
from inlet.blobstore import BlobStore, StorageError, Upload
from inlet.document import Document
from inlet.envelope import Envelope, EnvelopeDraft
from inlet.errors import InletError, NotFoundError, PermanentError
from inlet.ids import check_id, id_time, is_valid_id

log = logging.getLogger(__name__)

ENVELOPE_META = "inlet-envelope"
ENVELOPE_KEY_META = "inlet-envelope-key"
ID_META = "inlet-id"
# S3 counts key and value bytes of all user metadata against 2048; leave room for the id entry.
METADATA_BUDGET = 2048 - len(ID_META) - 26 - len(ENVELOPE_META) - 64

RAW_CONTENT_TYPE = "message/rfc822"
JSON_CONTENT_TYPE = "application/json"


def compact_metadata(envelope: Envelope) -> dict[str, str] | None:
    """The envelope as S3 user metadata, or None when it would not fit in full."""
    text = envelope.to_json()
    if len(text) > METADATA_BUDGET:
        return None
    return {ID_META: envelope.id, ENVELOPE_META: text}


@dataclass(slots=True)
class RawMessage:
    """A stored message being read: its complete envelope and its bytes in chunks."""

    envelope: Envelope
    chunks: Iterator[bytes]

    def __iter__(self) -> Iterator[bytes]:
        return self.chunks


@dataclass(frozen=True, slots=True)
class Hold:
    """A legal hold as holds/<id>.json records it: who set it, when, and why."""

    id: str
    held_at: str  # RFC 3339 UTC
    held_by: str
    reason: str | None = None

    def to_json(self) -> dict[str, str | None]:
        return {
            "id": self.id,
            "held_at": self.held_at,
            "held_by": self.held_by,
            "reason": self.reason,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> "Hold":
        reason = data.get("reason")
        return cls(
            id=str(data["id"]),
            held_at=str(data["held_at"]),
            held_by=str(data["held_by"]),
            reason=None if reason is None else str(reason),
        )


class UnreadableEnvelope(PermanentError):
    """The raw message is there, but its envelope cannot be read."""


class MessageStore:
    def __init__(self, blobs: BlobStore) -> None:
        self.blobs = blobs

    # -- the incoming message and its envelope -------------------------------------------

    def begin(self, message_id: str) -> "IncomingMessage":
        """Start storing a new message; nothing is visible until its `commit`."""
        return IncomingMessage(self, check_id(message_id))

    def read(self, message_id: str) -> RawMessage:
        """The raw bytes as a stream with the complete envelope, from one request when the
        envelope travels in metadata. NotFoundError if the message (or the envelope object
        its metadata names) is gone; UnreadableEnvelope if the envelope cannot be read."""
        try:
            stream = self.blobs.read_chunks(keys.raw_key(check_id(message_id)))
        except NotFoundError:
            raise NotFoundError(f"no message {message_id}") from None
        try:
            envelope = self._envelope_from(message_id, stream.metadata)
        except BaseException:
            stream.close()
            raise
        return RawMessage(envelope, stream.chunks)

    def load_raw(self, message_id: str) -> bytes:
        try:
            return self.blobs.get(keys.raw_key(check_id(message_id))).data
        except NotFoundError:
            raise NotFoundError(f"no message {message_id}") from None

    def load_envelope(self, message_id: str) -> Envelope:
        """The complete envelope, whether it travelled in the raw object's metadata or apart."""
        return self._envelope_from(message_id, self._raw_metadata(message_id))

    def exists(self, message_id: str) -> bool:
        try:
            self._raw_metadata(message_id)
        except NotFoundError:
            return False
        return True

    def remaining_envelope(self, message_id: str) -> Envelope | None:
        """The envelope of a message that may be half removed: from the raw object's metadata,
        else from envelope/ (it outlives raw/ when a removal stopped between the two); None if
        neither can be read."""
        try:
            return self.load_envelope(message_id)
        except NotFoundError:
            pass
        except PermanentError:
            return None
        try:
            return Envelope.from_json(self.blobs.get(keys.envelope_key(message_id)).data)
        except (PermanentError, ValueError, KeyError):
            return None

    def _raw_metadata(self, message_id: str) -> Mapping[str, str]:
        try:
            return self.blobs.head(keys.raw_key(check_id(message_id)))
        except NotFoundError:
            raise NotFoundError(f"no message {message_id}") from None

    def _envelope_from(self, message_id: str, metadata: Mapping[str, str]) -> Envelope:
        try:
            if ENVELOPE_META in metadata:
                return Envelope.from_json(metadata[ENVELOPE_META])
            key = metadata.get(ENVELOPE_KEY_META) or keys.envelope_key(message_id)
            return Envelope.from_json(self.blobs.get(key).data)
        except NotFoundError:
            raise
        except PermanentError as exc:  # e.g. metadata naming a key the store refuses
            raise UnreadableEnvelope(str(exc)) from exc
        except (KeyError, ValueError) as exc:  # json.JSONDecodeError is a ValueError
            raise UnreadableEnvelope(f"envelope of {message_id} is unreadable: {exc}") from exc

    # -- what parsing makes of it ----------------------------------------------------------

    def save_document(self, message_id: str, document: Document) -> None:
        """Write the parsed document of the message stored as `message_id`: the commit point
        of parsing (it triggers indexing)."""
        self._write_json(keys.parsed_key(message_id), document)

    def load_document(self, message_id: str) -> Document | None:
        """The parsed document (or the quarantine record written there); None if none yet."""
        return self._load_json(keys.parsed_key(check_id(message_id)), message_id)

    def save_attachment(
        self,
        message_id: str,
        index: int,
        safe_filename: str,
        data: bytes,
        content_type: str,
        sha256: bytes,
    ) -> str:
        """Store attachment `index` (its name already sanitised); returns its key."""
        key = keys.attachment_key(message_id, index, safe_filename)
        self._write(key, data, content_type, sha256=sha256)
        return key

    def quarantine(self, document: Document) -> None:
        """Record why a message cannot be read. The quarantine record comes first; then the
        same record under parsed/, the commit point, so the message is still indexed by its
        envelope and stays findable."""
        self._write_json(keys.quarantine_key(document["id"]), document)
        self.save_document(document["id"], document)

    def load_quarantine(self, message_id: str) -> Document | None:
        return self._load_json(keys.quarantine_key(check_id(message_id)), message_id)

    # -- legal holds: recorded here as well as in the index, so a rebuilt index keeps them --

    def save_hold(self, hold: "Hold") -> None:
        """Record a legal hold (idempotent: a second hold rewrites who, when and why)."""
        data = json.dumps(hold.to_json(), ensure_ascii=False, separators=(",", ":")).encode()
        self.blobs.put(keys.hold_key(check_id(hold.id)), data, content_type=JSON_CONTENT_TYPE)

    def load_hold(self, message_id: str) -> "Hold | None":
        try:
            data = self.blobs.get(keys.hold_key(check_id(message_id))).data
        except NotFoundError:
            return None
        try:
            return Hold.from_json(json.loads(data))
        except (ValueError, KeyError, TypeError) as exc:
            raise PermanentError(f"hold record of {message_id} is unreadable: {exc}") from exc

    def remove_hold(self, message_id: str) -> None:
        """Lift the recorded hold; lifting none is not an error."""
        self.blobs.delete(keys.hold_key(check_id(message_id)))

    def held_ids(self) -> Iterator[str]:
        """Every id with a recorded hold, in id order."""
        yield from self._ids(keys.HOLDS_PREFIX)

    # -- listing and removal ---------------------------------------------------------------

    def message_ids(self) -> Iterator[str]:
        """The id of every stored raw message, oldest first."""
        yield from self._ids(keys.RAW_PREFIX)

    def parsed_ids(self) -> Iterator[str]:
        """The id of every message that has a parsed document (or quarantine record)."""
        yield from self._ids(keys.PARSED_PREFIX)

    def ids_received_by(self, cutoff: datetime) -> list[str]:
        """Ids of messages received at or before `cutoff` with anything left of them, oldest
        first. envelope/ is listed too: it outlives raw/ when a removal stopped between the
        two deletes."""
        found: set[str] = set()
        for prefix in (keys.RAW_PREFIX, keys.ENVELOPE_PREFIX):
            for message_id in self._ids(prefix):
                if id_time(message_id) > cutoff:
                    break  # keys sort by day, then by id: everything after is newer
                found.add(message_id)
        return sorted(found)

    def ids_received_in(self, since: datetime | None, until: datetime | None) -> Iterator[str]:
        """Ids of stored raw messages received in [since, until), oldest first, as listed (one
        page at a time on S3). With `since`, only the date prefixes of the range are listed (a
        year or month wholly inside it as one prefix), never all of raw/; `since` then needs an
        `until`, as a range with no end would have no last prefix. Naive datetimes are UTC."""
        since, until = _utc(since), _utc(until)
        if since is None:
            for message_id in self._ids(keys.RAW_PREFIX):
                if until is not None and id_time(message_id) >= until:
                    return  # keys sort by day, then by id: everything after is newer
                yield message_id
            return
        if until is None:
            raise ValueError("a range with a start needs an end to list by date")
        if until <= since:
            return
        # `until` is exclusive: a range ending at midnight does not reach into that day.
        last = (until - timedelta(microseconds=1)).date()
        for prefix in _date_prefixes(since.date(), last):
            for message_id in self._ids(keys.RAW_PREFIX + prefix):
                if since <= id_time(message_id) < until:
                    yield message_id

    def remove_attachments_except(self, message_id: str, keep: Collection[str]) -> list[str]:
        """Delete the message's attachment objects whose keys are not in `keep` (those its
        current document names): what an earlier parse stored under other names or numbers,
        or a parse that stopped before its document. Returns the keys removed."""
        stale = [k for k in self.blobs.list(keys.attachments_prefix(message_id)) if k not in keep]
        for key in stale:
            self.blobs.delete(key)
        return stale

    def remove_quarantine(self, message_id: str) -> None:
        """Delete the quarantine record of a message that has since been parsed."""
        self.blobs.delete(keys.quarantine_key(check_id(message_id)))

    def remove(self, message_id: str) -> None:
        """Delete every object of a message. The raw object and its envelope go last, so
        whatever a failure leaves is found again by `ids_received_by` and removed next time."""
        self.remove_attachments_except(message_id, ())
        for key in (
            keys.parsed_key(message_id),
            keys.quarantine_key(message_id),
            keys.raw_key(message_id),
            keys.envelope_key(message_id),
        ):
            self.blobs.delete(key)

    def _ids(self, prefix: str) -> Iterator[str]:
        for key in self.blobs.list(prefix):
            message_id = keys.id_from_key(key)
            if is_valid_id(message_id):
                yield message_id

    # -- objects ---------------------------------------------------------------------------

    def _load_json(self, key: str, message_id: str) -> Document | None:
        try:
            data = self.blobs.get(key).data
        except NotFoundError:
            return None
        try:
            return cast(Document, json.loads(data))
        except ValueError as exc:
            raise PermanentError(f"{key} of {message_id} is unreadable: {exc}") from exc

    def _write_json(self, key: str, document: Document) -> None:
        data = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
        self._write(key, data, JSON_CONTENT_TYPE)

    def _write(
        self, key: str, data: bytes, content_type: str, *, sha256: bytes | None = None
    ) -> None:
        blobs = self.blobs
        if len(data) <= blobs.max_single_put:
            blobs.put(key, data, content_type=content_type, sha256=sha256)
            return
        upload = blobs.begin(key, content_type=content_type)
        try:
            view = memoryview(data)
            for start in range(0, len(data), blobs.write_size):
                upload.write(view[start : start + blobs.write_size])
            upload.complete()
        except BaseException:
            upload.abort()
            raise


def _utc(at: datetime | None) -> datetime | None:
    return at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at


def _date_prefixes(first: date, last: date) -> Iterator[str]:
    """The fewest `YYYY/`, `YYYY/MM/` and `YYYY/MM/DD/` key prefixes (the layout of inlet.keys)
    that cover the days from `first` to `last`, in key order: one LIST each, so a range of
    years costs tens of requests, not one per day."""
    day = first
    while day <= last:
        month_end = day.replace(day=calendar.monthrange(day.year, day.month)[1])
        if day.month == 1 and day.day == 1 and date(day.year, 12, 31) <= last:
            yield day.strftime("%Y/")
            end = date(day.year, 12, 31)
        elif day.day == 1 and month_end <= last:
            yield day.strftime("%Y/%m/")
            end = month_end
        else:
            yield day.strftime("%Y/%m/%d/")
            end = day
        if end == date.max:
            return  # nothing can follow the last day a date can hold
        day = end + timedelta(days=1)


class IncomingMessage:
    """One message being stored, as it arrives. Not safe for concurrent use."""

    def __init__(self, messages: MessageStore, message_id: str) -> None:
        self.id = message_id
        self.received_at = id_time(message_id)
        self._blobs = messages.blobs
        self._raw_key = keys.raw_key(message_id)
        self._envelope_key = keys.envelope_key(message_id)
        self._pending = bytearray()
        self._upload: Upload | None = None
        self._hash = hashlib.sha256()
        self.size = 0
        self._envelope_written = False
        # The raw object may be there (a commit was tried) and has not been removed since.
        self._raw_may_exist = False
        self._committed = False

    @property
    def write_size(self) -> int:
        """How many bytes a streaming caller should gather before each `write`."""
        return self._blobs.write_size

    @property
    def buffered(self) -> int:
        """Bytes of this message held in memory right now."""
        return len(self._pending) + (self._upload.buffered if self._upload else 0)

    def write(self, data: bytes | bytearray) -> None:
        """Append `data`. A bytearray may be kept as it is (no copy): do not reuse it."""
        self._hash.update(data)
        self.size += len(data)
        if self._upload is not None:
            self._upload.write(data)
            return
        if not self._pending and isinstance(data, bytearray):
            self._pending = data
        else:
            self._pending += data
        if len(self._pending) > self._blobs.max_single_put:
            self._upload = self._blobs.begin(
                self._raw_key,
                content_type=RAW_CONTENT_TYPE,
                metadata={ID_META: self.id, ENVELOPE_KEY_META: self._envelope_key},
            )
            # The upload may keep the bytearray it is given; start a new one.
            pending, self._pending = self._pending, bytearray()
            self._upload.write(pending)

    def commit(self, draft: EnvelopeDraft) -> Envelope:
        """Store the message durably with the envelope `draft` completed by the size and
        digest of the stored bytes. Raises StorageError (and leaves nothing behind)."""
        digest = self._hash.digest()
        envelope = draft.complete(size=self.size, sha256=digest.hex())
        try:
            if self._upload is None:
                metadata = compact_metadata(envelope)
                if metadata is None:
                    self._put_envelope(envelope)
                    metadata = {ID_META: self.id, ENVELOPE_KEY_META: self._envelope_key}
                self._blobs.put(
                    self._raw_key,
                    self._pending,
                    content_type=RAW_CONTENT_TYPE,
                    metadata=metadata,
                    sha256=digest,
                )
            else:
                self._put_envelope(envelope)
                self._upload.complete()
        except BaseException as exc:
            self._cleanup(completed_may_exist=True)
            if isinstance(exc, InletError):
                raise StorageError(str(exc)) from exc
            raise
        self._pending = bytearray()
        self._committed = True
        return envelope

    def abort(self) -> None:
        """Give up on the message (refused, connection lost, or shutting down).

        After a commit that returned, the acceptance never reached the sender (cancelled, or
        past the store deadline and answered 451): it will send the message again, so this
        attempt is removed whole, raw object first, as every failed attempt is.
        """
        self._cleanup(completed_may_exist=self._committed)

    def _put_envelope(self, envelope: Envelope) -> None:
        self._envelope_written = True
        self._blobs.put(
            self._envelope_key,
            envelope.to_json().encode("ascii"),
            content_type=JSON_CONTENT_TYPE,
        )

    def _cleanup(self, *, completed_may_exist: bool) -> None:
        self._pending = bytearray()
        if self._upload is not None:
            self._upload.abort()
        # A request that timed out may still have completed on the store's side; and what an
        # earlier cleanup could not remove is still to be removed (a later abort retries it).
        self._raw_may_exist = self._raw_may_exist or completed_may_exist
        doomed = [self._raw_key] if self._raw_may_exist else []
        if self._envelope_written:
            doomed.append(self._envelope_key)
        for key in doomed:
            try:
                self._blobs.delete(key)
            except InletError:
                log.error("could not remove %s after a failed store", key)
                if key == self._raw_key:
                    # Keep its envelope: a raw object without one could not be read.
                    return
                continue
            if key == self._raw_key:
                self._raw_may_exist = False
            else:
                self._envelope_written = False
