"""The processing steps after a message is stored, shared by the Lambdas and `inlet up`.

parse: raw object + envelope → parsed document (+ attachments), or a quarantine record.
index: parsed document → index records. Both are idempotent: keys derive from the id only,
so a redelivered event rewrites the same objects and records.
"""

import json
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from inlet import keys
from inlet.blobstore import BlobStore
from inlet.envelope import Envelope
from inlet.errors import InletError, NotFoundError, PermanentError
from inlet.ids import check_id, id_time
from inlet.index import Index
from inlet.messages import envelope_from
from inlet.parsing import ParseError, parse_message, quarantine_document

log = logging.getLogger(__name__)

JSON = "application/json"


def parse_stored(store: BlobStore, message_id: str, *, now: datetime) -> dict[str, Any]:
    """Parse a stored message and write its document. NotFoundError if the raw object is gone
    (a stale event after retention); TransientError if storage failed (retry later)."""
    check_id(message_id)
    try:
        raw = store.read_chunks(keys.raw_key(message_id))  # one request: bytes and metadata
    except NotFoundError:
        raise NotFoundError(f"no message {message_id}") from None
    try:
        envelope = envelope_from(store, message_id, raw.metadata)
    except NotFoundError:
        raise
    except PermanentError as exc:
        document = quarantine_document(_unknown_envelope(message_id), str(exc), now)
        return _write_quarantine(store, document)
    try:
        document = parse_message(
            raw,
            envelope,
            save_attachment=lambda key, data, ctype, digest: write_object(
                store, key, data, ctype, sha256=digest
            ),
            parsed_at=now,
        )
    except ParseError as exc:
        return _write_quarantine(store, quarantine_document(envelope, str(exc), now))
    except (InletError, MemoryError):
        raise  # storage trouble is retried; a Lambda out of memory needs more, not quarantine
    except Exception as exc:
        # A parser bug must not loop through retries forever; the raw object stays for a
        # re-parse once fixed.
        log.exception("parser raised", extra={"message_id": message_id})
        reason = f"parser raised {type(exc).__name__}: {exc}"
        return _write_quarantine(store, quarantine_document(envelope, reason, now))
    write_json(store, keys.parsed_key(message_id), document)
    return document


def index_parsed(store: BlobStore, index: Index, message_id: str) -> Mapping[str, Any]:
    """Index a parsed (or quarantined) document. NotFoundError if the document is gone."""
    document = load_document(store, message_id)
    if document is None:
        raise NotFoundError(f"no parsed document for {message_id}")
    index.put(document)
    return document


def load_document(store: BlobStore, message_id: str) -> dict[str, Any] | None:
    """The parsed document (or quarantine record written there), None if there is none yet."""
    return _load_json(store, keys.parsed_key(check_id(message_id)), message_id)


def load_quarantine(store: BlobStore, message_id: str) -> dict[str, Any] | None:
    return _load_json(store, keys.quarantine_key(check_id(message_id)), message_id)


def _load_json(store: BlobStore, key: str, message_id: str) -> dict[str, Any] | None:
    try:
        data = store.get(key).data
    except NotFoundError:
        return None
    try:
        document: dict[str, Any] = json.loads(data)
    except ValueError as exc:
        raise PermanentError(f"{key} of {message_id} is unreadable: {exc}") from exc
    return document


def write_json(store: BlobStore, key: str, document: Mapping[str, Any]) -> None:
    data = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
    write_object(store, key, data, JSON)


def write_object(
    store: BlobStore, key: str, data: bytes, content_type: str, *, sha256: bytes | None = None
) -> None:
    if len(data) <= store.max_single_put:
        store.put(key, data, content_type=content_type, sha256=sha256)
        return
    upload = store.begin(key, content_type=content_type)
    try:
        view = memoryview(data)
        for start in range(0, len(data), store.write_size):
            upload.write(view[start : start + store.write_size])
        upload.complete()
    except BaseException:
        upload.abort()
        raise


def _write_quarantine(store: BlobStore, document: dict[str, Any]) -> dict[str, Any]:
    # The quarantine record first: the parsed/ document (which triggers indexing, so the
    # message stays findable by its envelope) is the commit point.
    write_json(store, keys.quarantine_key(document["id"]), document)
    write_json(store, keys.parsed_key(document["id"]), document)
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
