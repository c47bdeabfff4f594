"""Storing one incoming message: the rules every writer of raw/ follows.

- Bytes arrive in order through `write`; nothing is visible until `commit`.
- A message that fits in one request is a single put carrying its envelope in metadata when
  the envelope fits there (one request per message); otherwise the complete envelope is written
  to envelope/ first, so it exists whenever the raw object does.
- A larger message streams through `BlobStore.begin` (multipart semantics).
- Any failure leaves nothing behind: the upload is aborted and what was written is deleted.

All methods block (they do I/O); the relay calls them from a worker thread.
"""

import hashlib
import logging
from collections.abc import Callable

from inlet import keys
from inlet.blobstore import BlobStore, StorageError, Upload
from inlet.envelope import ENVELOPE_KEY_META, ID_META, Envelope, compact_metadata
from inlet.errors import InletError

log = logging.getLogger(__name__)

RAW_CONTENT_TYPE = "message/rfc822"
ENVELOPE_CONTENT_TYPE = "application/json"


class IncomingMessage:
    def __init__(self, store: BlobStore, message_id: str) -> None:
        self.id = message_id
        self.raw_key = keys.raw_key(message_id)
        self.envelope_key = keys.envelope_key(message_id)
        self._store = store
        self._pending = bytearray()
        self._upload: Upload | None = None
        self._hash = hashlib.sha256()
        self.size = 0
        self._envelope_written = False

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
        if len(self._pending) > self._store.max_single_put:
            self._upload = self._store.begin(
                self.raw_key,
                content_type=RAW_CONTENT_TYPE,
                metadata={ID_META: self.id, ENVELOPE_KEY_META: self.envelope_key},
            )
            # The upload may keep the bytearray it is given; start a new one.
            pending, self._pending = self._pending, bytearray()
            self._upload.write(pending)

    def commit(self, make_envelope: Callable[[int, str], Envelope]) -> Envelope:
        """Store the message durably. `make_envelope(size, sha256_hex)` builds the envelope once
        the stored bytes are known. Raises StorageError (and leaves nothing behind) on failure."""
        digest = self._hash.digest()
        envelope = make_envelope(self.size, digest.hex())
        try:
            if self._upload is None:
                metadata = compact_metadata(envelope)
                if metadata is None:
                    self._put_envelope(envelope)
                    metadata = {ID_META: self.id, ENVELOPE_KEY_META: self.envelope_key}
                self._store.put(
                    self.raw_key,
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
        return envelope

    def abort(self) -> None:
        """Give up on the message (refused, connection lost, or shutting down)."""
        self._cleanup(completed_may_exist=False)

    def _put_envelope(self, envelope: Envelope) -> None:
        self._envelope_written = True
        self._store.put(
            self.envelope_key,
            envelope.to_json().encode("ascii"),
            content_type=ENVELOPE_CONTENT_TYPE,
        )

    def _cleanup(self, *, completed_may_exist: bool) -> None:
        self._pending = bytearray()
        if self._upload is not None:
            self._upload.abort()
        # A request that timed out may still have completed on the store's side.
        doomed = [self.raw_key] if completed_may_exist else []
        if self._envelope_written:
            doomed.append(self.envelope_key)
        for key in doomed:
            try:
                self._store.delete(key)
            except InletError:
                log.error("could not remove %s after a failed store", key)
