"""Header values as the document holds them: unfolded, 8-bit bytes and RFC 2047 words decoded.

Values come from `Message.raw_items()`, i.e. as received (BytesFeedParser keeps 8-bit bytes as
surrogate escapes). The stdlib's structured parsers are used where structure matters (address
lists); they raise on some inputs, which callers turn into defect notes.
"""

import re
from datetime import UTC, datetime
from email.headerregistry import AddressHeader, UnstructuredHeader
from email.utils import parsedate_to_datetime
from typing import Any

from inlet.document import Address
from inlet.parsing.charsets import scrub, utf8_with_fallback

_FOLD = re.compile(r"[\r\n]")
_MSG_ID = re.compile(r"<([^<>]*)>")


def unfold(raw: str) -> tuple[str, str | None]:
    """A raw header value on one line, its 8-bit bytes read as UTF-8 (cp1252 where not)."""
    value = _FOLD.sub("", raw)
    if value.isascii():
        return value, None
    data = value.encode("ascii", "surrogateescape")
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError:
        return utf8_with_fallback(data), "8-bit bytes not utf-8, read as cp1252"


def decode_unstructured(value: str) -> str:
    """An unfolded value with its RFC 2047 encoded words decoded."""
    if "=?" not in value:
        return value
    kwds: dict[str, Any] = {"defects": []}
    UnstructuredHeader.parse(value, kwds)
    return scrub(str(kwds["decoded"]))


def parse_addresses(value: str) -> tuple[list[Address], list[str]]:
    """The mailboxes of an unfolded address-list value (groups flattened), and defect names."""
    kwds: dict[str, Any] = {"defects": []}
    try:
        AddressHeader.parse(value, kwds)
    except Exception as exc:  # the stdlib parser raises IndexError etc. on some garbage
        return [], [f"unparseable ({type(exc).__name__})"]
    found: list[Address] = []
    dropped = 0
    for group in kwds["groups"]:
        for address in group.addresses:
            addr_spec = scrub(address.addr_spec)
            # A bare local part ("root") is kept; a phrase with no address at all ("Some Body",
            # which the stdlib turns into a quoted local part) or "<>" is not an address.
            if address.domain or (address.username and addr_spec == address.username):
                found.append({"name": scrub(address.display_name), "address": addr_spec})
            else:
                dropped += 1
    notes = [type(defect).__name__ for defect in kwds["defects"]]
    notes += ["entry without an address"] * dropped
    if (
        not found
        and not dropped
        and value.strip()
        and not any(g.display_name for g in kwds["groups"])
    ):
        notes.append("no address found")
    return found, notes


def parse_date(value: str) -> str | None:
    """RFC 3339 UTC for an RFC 5322 date (naive means UTC), or None when it makes no sense."""
    try:
        when = parsedate_to_datetime(value)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return rfc3339(when.astimezone(UTC))
    except (TypeError, ValueError, OverflowError, IndexError):
        return None


def rfc3339(when: datetime, *, milliseconds: bool = False) -> str:
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    text = when.replace(tzinfo=None).isoformat(
        timespec="milliseconds" if milliseconds else "seconds"
    )
    return text + "Z"


def message_ids(value: str) -> list[str]:
    """The "<id>" tokens of a Message-ID-like value, whitespace inside an id removed."""
    ids = []
    for inner in _MSG_ID.findall(value):
        bare = "".join(inner.split())
        if bare:
            ids.append(f"<{bare}>")
    return ids
