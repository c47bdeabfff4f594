"""The parsed document: every field always present, so readers never guess at absent keys.

The schema is docs/parsed-document.schema.json; FIELDS is its property order.
"""

from datetime import datetime
from typing import Any, Literal

from inlet.envelope import Envelope
from inlet.parsing.headers import rfc3339

# Bump when the same raw message would give a different document, so stale ones can be found.
PARSER_VERSION = "1"

Status = Literal["stored", "parsed", "quarantined"]

FIELDS = (
    "id",
    "status",
    "reason",
    "envelope",
    "message_id",
    "date",
    "subject",
    "from",
    "sender",
    "reply_to",
    "to",
    "cc",
    "bcc",
    "in_reply_to",
    "references",
    "headers",
    "text",
    "html",
    "attachments",
    "defects",
    "parsed_at",
    "parser_version",
)
_LISTS = frozenset(
    {"from", "reply_to", "to", "cc", "bcc", "references", "headers", "attachments", "defects"}
)


def blank_document(envelope: Envelope, status: Status) -> dict[str, Any]:
    """A document with nothing parsed: null and empty-list fields around the envelope."""
    document: dict[str, Any] = {name: [] if name in _LISTS else None for name in FIELDS}
    document.update(
        id=envelope.id,
        status=status,
        envelope=envelope.to_dict(),
        parser_version=PARSER_VERSION,
    )
    return document


def stored_document(envelope: Envelope) -> dict[str, Any]:
    """The document of a message that is stored but not parsed yet (in flight)."""
    return blank_document(envelope, "stored")


def quarantine_document(envelope: Envelope, reason: str, parsed_at: datetime) -> dict[str, Any]:
    """The document of a message that could not be read at all; its raw object stays."""
    document = blank_document(envelope, "quarantined")
    document["reason"] = reason
    document["parsed_at"] = rfc3339(parsed_at, milliseconds=True)
    return document
