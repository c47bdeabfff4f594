"""The index port: find messages by recipient, sender, Message-ID or id without reading them.

`put` turns a stored, parsed or quarantined document into one entry and its lookups
(`inlet.index.records`); `search` answers newest first, one page at a time; holds (legal holds,
which retention respects) are kept apart from the entry, so they can be set before a message is
indexed and they survive `delete`. Every method may block; async callers run them in a thread.

Adapters: SQLite (`inlet.index.sqlite`, the embedded default) and DynamoDB
(`inlet.index.dynamodb`); one contract test suite (tests/unit/test_index_contract.py) runs
against both. Neither adapter is imported here, so the core does not need boto3.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from inlet.document import Document
from inlet.errors import TransientError
from inlet.index.records import Entry, SearchField


class IndexUnavailable(TransientError):
    """The index did not confirm an operation; the caller may retry later."""


@dataclass(frozen=True, slots=True)
class Page:
    entries: list[Entry]
    cursor: str | None  # opaque; None when there is nothing more


class Index(Protocol):
    def put(self, document: Document) -> None:
        """Index a document. Idempotent. A newer status replaces the older entry and removes
        lookups that no longer apply, except that a "stored" document never replaces a parsed
        or quarantined one (a late redelivery must not undo a parse). PermanentError for a
        document that cannot be indexed."""

    def search(
        self,
        field: SearchField,
        value: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        """Entries whose `field` matches `value`, newest first, received in [since, until)
        (naive datetimes are UTC). "to": envelope RCPT TO and header To/Cc; "from": envelope
        MAIL FROM (the null reverse-path is "" or "<>") and header From; "message_id": the
        Message-ID header with or without its angle brackets. Addresses compare
        case-insensitively in the domain part only. Entries carry held=False (use `get`).
        ConfigError for a limit outside 1..1000 or a cursor not from this same search."""

    def get(self, message_id: str) -> Entry | None:
        """The entry with its hold flag; None if the message is not (completely) indexed."""

    def delete(self, message_id: str) -> None:
        """Remove the entry and its lookups but not a hold. Idempotent, and safe to re-run
        after a partial failure."""

    def hold(self, message_id: str) -> None:
        """Set a legal hold, whether or not the message is indexed yet."""

    def release(self, message_id: str) -> None:
        """Lift a hold; releasing what is not held is not an error."""

    def is_held(self, message_id: str) -> bool: ...

    def held_ids(self) -> Iterator[str]:
        """Every held id, in id order (oldest first)."""

    def close(self) -> None:
        """Release connections; the index is not used afterwards."""


__all__ = ["Entry", "Index", "IndexUnavailable", "Page", "SearchField"]
