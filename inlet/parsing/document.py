"""The parsed document: every field always present, so readers never guess at absent keys.

The schema is docs/parsed-document.schema.json and its Python form inlet.document.Document;
FIELDS is their property order.
"""

from datetime import datetime

from inlet.document import Document, Status
from inlet.envelope import Envelope
from inlet.parsing.headers import rfc3339

# Bump when the same raw message would give a different document, so stale ones can be found.
PARSER_VERSION = "2"

FIELDS: tuple[str, ...] = tuple(Document.__annotations__)


def blank_document(envelope: Envelope, status: Status) -> Document:
    """A document with nothing parsed: null and empty-list fields around the envelope."""
    return {
        "id": envelope.id,
        "status": status,
        "reason": None,
        "envelope": envelope.to_dict(),
        "message_id": None,
        "date": None,
        "subject": None,
        "from": [],
        "sender": None,
        "reply_to": [],
        "to": [],
        "cc": [],
        "bcc": [],
        "in_reply_to": None,
        "references": [],
        "headers": [],
        "text": None,
        "html": None,
        "attachments": [],
        "defects": [],
        "authentication": None,
        "parsed_at": None,
        "parser_version": PARSER_VERSION,
    }


def stored_document(envelope: Envelope) -> Document:
    """The document of a message that is stored but not parsed yet (in flight)."""
    return blank_document(envelope, "stored")


def quarantine_document(envelope: Envelope, reason: str, parsed_at: datetime) -> Document:
    """The document of a message that could not be read at all; its raw object stays."""
    document = blank_document(envelope, "quarantined")
    document["reason"] = reason
    document["parsed_at"] = rfc3339(parsed_at, milliseconds=True)
    return document
