"""The parsed document's types: what parsed/YYYY/MM/DD/<id>.json holds.

docs/parsed-document.schema.json is the contract (every key always present: null or [] when
absent); these TypedDicts are its Python form, field for field and in its order, and
tests/unit/test_document_types.py holds the two together. inlet.parsing builds documents,
inlet.index reads them.

A document read back from storage is only JSON: code that receives one from outside (the
index's record builders) still checks its shape at run time.
"""

from typing import Literal, TypedDict

from inlet.authentication.results import Authentication
from inlet.envelope import EnvelopeJson, TlsJson

Status = Literal["stored", "parsed", "quarantined"]
# RFC 2183: an unrecognised disposition counts as "attachment"; None when there is no header.
Disposition = Literal["attachment", "inline"]


class Address(TypedDict):
    name: str  # the display name, RFC 2047 decoded; "" when there is none
    address: str  # the addr-spec as written


class Attachment(TypedDict):
    index: int
    filename: str
    content_type: str
    disposition: Disposition | None
    content_id: str | None
    size: int
    sha256: str  # of the decoded bytes, lower-case hex
    key: str  # attachments/<id>/<index>-<filename>


# "from" is a keyword, so the functional form.
Document = TypedDict(
    "Document",
    {
        "id": str,
        "status": Status,
        "reason": str | None,
        "envelope": EnvelopeJson,
        "message_id": str | None,
        "date": str | None,
        "subject": str | None,
        "from": list[Address],
        "sender": Address | None,
        "reply_to": list[Address],
        "to": list[Address],
        "cc": list[Address],
        "bcc": list[Address],
        "in_reply_to": str | None,
        "references": list[str],
        "headers": list[list[str]],  # [name, value] pairs, as JSON arrays
        "text": str | None,
        "html": str | None,
        "attachments": list[Attachment],
        "defects": list[str],
        # The SPF/DKIM/DMARC/ARC verdicts (design.md); None when none were computed.
        "authentication": Authentication | None,
        "parsed_at": str | None,
        "parser_version": str,
    },
)

__all__ = [
    "Address",
    "Attachment",
    "Disposition",
    "Document",
    "EnvelopeJson",
    "Status",
    "TlsJson",
]
