"""Carrying out retention: find expired messages, skip held ones, delete everything of the rest.

Deletion order makes a re-run after a partial failure finish the job: index records first,
then attachments, the parsed document and quarantine record, the raw object, and the envelope
last, so whatever is left of a message is always found again by listing raw/ or envelope/.
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime

from inlet import keys
from inlet.blobstore import BlobStore
from inlet.envelope import Envelope
from inlet.errors import NotFoundError, PermanentError, TransientError
from inlet.ids import id_time, is_valid_id
from inlet.index import Index
from inlet.messages import load_envelope
from inlet.retention import RetentionPolicy

log = logging.getLogger(__name__)


@dataclass(slots=True)
class RetentionReport:
    dry_run: bool
    examined: int = 0
    expired: int = 0  # removed, or (dry run) would be removed
    held: int = 0  # expired by policy but under legal hold, so kept
    failed: int = 0  # left for the next run
    expired_ids: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {
            "dry_run": self.dry_run,
            "examined": self.examined,
            "expired": self.expired,
            "held": self.held,
            "failed": self.failed,
        }


def run_retention(
    store: BlobStore,
    index: Index,
    policy: RetentionPolicy,
    *,
    now: datetime,
    dry_run: bool = False,
) -> RetentionReport:
    report = RetentionReport(dry_run=dry_run)
    for message_id in _candidates(store, policy.earliest_cutoff(now)):
        report.examined += 1
        try:
            envelope = _envelope(store, message_id)
            rcpt_to = envelope.rcpt_to if envelope else None  # None: unknown, longest period
            if not policy.is_expired(id_time(message_id), rcpt_to, now):
                continue
            if index.is_held(message_id):
                report.held += 1
                continue
            report.expired += 1
            report.expired_ids.append(message_id)
            if not dry_run:
                _delete_message(store, index, message_id)
        except TransientError as exc:
            report.failed += 1
            log.warning("retention failed", extra={"message_id": message_id, "error": str(exc)})
    log.info("retention finished", extra=report.to_dict())
    return report


def _candidates(store: BlobStore, cutoff: datetime) -> list[str]:
    """Ids of messages old enough that some policy may expire them, oldest first.

    envelope/ is listed too: it outlives raw/ when a run stopped between the two deletes.
    """
    found: set[str] = set()
    for prefix in (keys.RAW_PREFIX, keys.ENVELOPE_PREFIX):
        for key in store.list(prefix):
            message_id = keys.id_from_key(key)
            if not is_valid_id(message_id):
                continue
            if id_time(message_id) > cutoff:
                break  # keys sort by day, then by id: everything after is newer
            found.add(message_id)
    return sorted(found)


def _envelope(store: BlobStore, message_id: str) -> Envelope | None:
    try:
        return load_envelope(store, message_id)
    except NotFoundError:
        pass  # the raw object is gone; a separate envelope may remain
    except PermanentError:
        return None
    try:
        return Envelope.from_json(store.get(keys.envelope_key(message_id)).data)
    except (PermanentError, ValueError, KeyError):
        return None


def _delete_message(store: BlobStore, index: Index, message_id: str) -> None:
    index.delete(message_id)
    for key in list(store.list(f"{keys.ATTACHMENTS_PREFIX}{message_id}/")):
        store.delete(key)
    for key in (
        keys.parsed_key(message_id),
        keys.quarantine_key(message_id),
        keys.raw_key(message_id),
        keys.envelope_key(message_id),
    ):
        store.delete(key)
    log.info("message expired", extra={"message_id": message_id})
