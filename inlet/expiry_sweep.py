"""The expiry sweep: find messages past their retention period, skip held ones, remove the rest.

The policy (inlet.retention_policy) decides; this module acts. Removal order makes a re-run
after a partial failure finish the job: index records first, then everything in the message
store, whose raw object and envelope go last, so whatever is left of a message is found again.
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime

from inlet.errors import TransientError
from inlet.ids import id_time
from inlet.index import Index
from inlet.message_store import MessageStore
from inlet.retention_policy import RetentionPolicy

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
    messages: MessageStore,
    index: Index,
    policy: RetentionPolicy,
    *,
    now: datetime,
    dry_run: bool = False,
) -> RetentionReport:
    report = RetentionReport(dry_run=dry_run)
    for message_id in messages.ids_received_by(policy.earliest_cutoff(now)):
        report.examined += 1
        try:
            envelope = messages.remaining_envelope(message_id)
            rcpt_to = envelope.rcpt_to if envelope else None  # None: unknown, longest period
            if not policy.is_expired(id_time(message_id), rcpt_to, now):
                continue
            if index.is_held(message_id):
                report.held += 1
                continue
            report.expired += 1
            report.expired_ids.append(message_id)
            if not dry_run:
                index.delete(message_id)
                messages.remove(message_id)
                log.info("message expired", extra={"message_id": message_id})
        except TransientError as exc:
            report.failed += 1
            log.warning("retention failed", extra={"message_id": message_id, "error": str(exc)})
    log.info("retention finished", extra=report.to_dict())
    return report
