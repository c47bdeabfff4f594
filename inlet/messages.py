"""Reading stored messages back: the raw bytes and the complete envelope."""

import json
from collections.abc import Mapping

from inlet import keys
from inlet.blobstore import BlobStore
from inlet.envelope import ENVELOPE_KEY_META, ENVELOPE_META, Envelope
from inlet.errors import NotFoundError, PermanentError
from inlet.ids import check_id


def load_raw(store: BlobStore, message_id: str) -> bytes:
    try:
        return store.get(keys.raw_key(check_id(message_id))).data
    except NotFoundError:
        raise NotFoundError(f"no message {message_id}") from None


def load_envelope(store: BlobStore, message_id: str) -> Envelope:
    """The complete envelope, whether it travelled in the raw object's metadata or apart."""
    try:
        metadata = store.head(keys.raw_key(check_id(message_id)))
    except NotFoundError:
        raise NotFoundError(f"no message {message_id}") from None
    return envelope_from(store, message_id, metadata)


def envelope_from(store: BlobStore, message_id: str, metadata: Mapping[str, str]) -> Envelope:
    """The complete envelope given the raw object's metadata (read with the object itself)."""
    try:
        if ENVELOPE_META in metadata:
            return Envelope.from_json(metadata[ENVELOPE_META])
        key = metadata.get(ENVELOPE_KEY_META) or keys.envelope_key(message_id)
        return Envelope.from_json(store.get(key).data)
    except (KeyError, ValueError, json.JSONDecodeError) as exc:
        raise PermanentError(f"envelope of {message_id} is unreadable: {exc}") from exc
