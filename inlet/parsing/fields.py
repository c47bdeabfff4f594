"""The document's header fields: the header list, addresses, subject, date and ids.

Values come from `Message.raw_items()`, exactly as received; helpers in headers.py read them.
"""

from email.message import EmailMessage
from typing import Literal

from inlet.document import Address, Document
from inlet.parsing.headers import (
    decode_unstructured,
    message_ids,
    parse_addresses,
    parse_date,
    unfold,
    unfold_words,
)

_AddressField = Literal["from", "reply_to", "to", "cc", "bcc"]
_ADDRESS_FIELDS: dict[str, _AddressField] = {
    "from": "from",
    "reply-to": "reply_to",
    "to": "to",
    "cc": "cc",
    "bcc": "bcc",
}
# RFC 5322 §3.6: fields that may occur at most once.
_UNIQUE = (
    "date",
    "from",
    "sender",
    "reply-to",
    "to",
    "cc",
    "bcc",
    "message-id",
    "in-reply-to",
    "references",
    "subject",
)
# Bounds on the header text handed to the stdlib's header parsers (see _Budget).
_PARSE_VALUE_LIMIT = 64 * 1024
_PARSE_BUDGET = 256 * 1024


class _Budget:
    """How much header text the stdlib's header parsers may still be given for one message.

    They are pure Python and worse than linear on long values (a 440 KB Subject of encoded
    words took 12 s), so a hostile message could otherwise pin the parse for minutes.
    """

    def __init__(self) -> None:
        self.left = _PARSE_BUDGET

    def take(self, value: str) -> bool:
        if len(value) > min(self.left, _PARSE_VALUE_LIMIT):
            return False
        self.left -= len(value)
        return True


def _decoded(name: str, value: str, words: str, budget: _Budget, defects: list[str]) -> str:
    """`words` (the value with its encoded words made canonical) decoded; the value as
    received when it cannot be."""
    if "=?" not in words:
        return words
    if not budget.take(words):
        defects.append(f"header {name}: too long, encoded words left as they are")
        return value
    try:
        return decode_unstructured(words)
    except Exception as exc:  # the stdlib's header parser has raised on odd input
        defects.append(f"header {name}: undecodable ({type(exc).__name__})")
        return value


def _addresses(name: str, value: str, budget: _Budget, defects: list[str]) -> list[Address]:
    if len(value) > _PARSE_VALUE_LIMIT:
        # Cut at an address boundary; beyond this many addresses nobody searches anyway.
        cut = value.rfind(",", 0, _PARSE_VALUE_LIMIT)
        value = value[:cut] if cut > 0 else value[:_PARSE_VALUE_LIMIT]
        defects.append(f"header {name}: too long, only the first {len(value)} characters read")
    if not budget.take(value):
        defects.append(f"header {name}: not read, too much header text in the message")
        return []
    found, notes = parse_addresses(value)
    defects.extend(f"header {name}: {note}" for note in notes)
    return found


def headers_into(document: Document, root: EmailMessage, defects: list[str]) -> None:
    budget = _Budget()
    headers: list[list[str]] = []
    values: dict[str, list[str]] = {}  # lower-case name → unfolded values, in order
    # The same with canonical encoded words (headers.unfold_words), for fields read as text.
    texts: dict[str, list[str]] = {}
    names: dict[str, str] = {}  # lower-case name → the spelling first seen, for notes
    for name, raw in root.raw_items():
        value, note = unfold(raw)
        words, notes = unfold_words(raw) if "=?" in raw else (value, [note] if note else [])
        defects.extend(f"header {name}: {item}" for item in notes)
        decoded = _decoded(name, value, words, budget, defects).rstrip()
        headers.append([name, decoded])
        key = name.lower()
        values.setdefault(key, []).append(value)
        texts.setdefault(key, []).append(words)
        names.setdefault(key, name)
        if key == "subject" and document["subject"] is None:
            document["subject"] = decoded
    document["headers"] = headers

    for key in _UNIQUE:
        if len(values.get(key, ())) > 1:
            defects.append(f"header {names[key]}: {len(values[key])} instances")

    for key, field in _ADDRESS_FIELDS.items():
        for value in texts.get(key, ()):
            document[field].extend(_addresses(names[key], value, budget, defects))
    if "from" not in values:
        defects.append("header From: missing")
    for value in texts.get("sender", ())[:1]:
        found = _addresses(names["sender"], value, budget, defects)
        document["sender"] = found[0] if found else None

    message_id = values.get("message-id", [""])[0].strip()
    document["message_id"] = message_id or None
    for value in values.get("in-reply-to", ())[:1]:
        ids = message_ids(value)
        document["in_reply_to"] = ids[0] if ids else value.strip() or None
    document["references"] = [
        ref for value in values.get("references", ()) for ref in message_ids(value)
    ]

    dates = values.get("date")
    if not dates:
        defects.append("header Date: missing")
    else:
        document["date"] = parse_date(dates[0])
        if document["date"] is None:
            defects.append(f"header {names['date']}: unparseable")
