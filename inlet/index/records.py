"""What the index keeps of a message, worked out from its document alone (no I/O).

A document becomes one `Entry` (enough to list the message without fetching it) and a set of
lookups: (field, value) pairs a search can match. Values are normalised here, once, for writing
and for searching alike, so both adapters compare exactly what this module produces:

- addresses: surrounding whitespace and "<>" removed, the domain part lower-cased and the local
  part kept as it is (RFC 5321 §2.4: only the receiving host may interpret the local part's case);
  the null reverse-path ("" or "<>") is the value "", so `--from '<>'` finds bounces;
- Message-IDs: surrounding whitespace and one pair of angle brackets removed, otherwise exact.

Bounds that keep a pathological message indexable (a DynamoDB item holds at most 400 KB and a
key at most 2 KB, and an item that can never be written would be retried into the DLQ): lookup
values longer than MAX_VALUE_BYTES are not indexed (no real address or Message-ID is that long),
header addresses beyond MAX_HEADER_LOOKUPS per field are not searchable, the entry lists at most
MAX_ENTRY_ADDRESSES header addresses per field and a subject of at most MAX_SUBJECT_CHARS.
Envelope recipients are never capped: the relay already bounds their number.
"""

import base64
import binascii
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, NamedTuple, get_args

from inlet.document import Document
from inlet.errors import ConfigError, PermanentError
from inlet.ids import is_valid_id, lowest_id

SearchField = Literal["to", "from", "message_id"]
SEARCH_FIELDS: tuple[SearchField, ...] = get_args(SearchField)
Lookup = tuple[SearchField, str]

STATUSES = ("stored", "parsed", "quarantined")
# "stored" is provisional (nothing parsed yet): a late or redelivered "stored" document must not
# undo a parse. Between "parsed" and "quarantined" the last put wins (a message may be re-parsed).
_RANK = {"stored": 0, "parsed": 1, "quarantined": 1}

MAX_LIMIT = 1000
MAX_VALUE_BYTES = 1024
MAX_HEADER_LOOKUPS = 1000
MAX_ENTRY_ADDRESSES = 100
MAX_SUBJECT_CHARS = 1000

# The key under which a search's lookups are kept: the DynamoDB partition key, and the scope
# a cursor is bound to in both adapters.
_KEY_PREFIX: dict[SearchField, str] = {"to": "TO#", "from": "FROM#", "message_id": "MSGID#"}


@dataclass(frozen=True, slots=True)
class Entry:
    """A message as a search lists it."""

    id: str
    received_at: str
    status: str
    mail_from: str
    rcpt_to: tuple[str, ...]
    from_: tuple[str, ...]  # header From addresses
    to: tuple[str, ...]  # header To + Cc addresses
    subject: str | None
    message_id: str | None
    size: int
    held: bool = False  # filled by Index.get(); search results leave it False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, with the document's field names ("from", not "from_")."""
        return {
            "id": self.id,
            "received_at": self.received_at,
            "status": self.status,
            "mail_from": self.mail_from,
            "rcpt_to": list(self.rcpt_to),
            "from": list(self.from_),
            "to": list(self.to),
            "subject": self.subject,
            "message_id": self.message_id,
            "size": self.size,
            "held": self.held,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, held: bool | None = None) -> "Entry":
        """The inverse of `to_dict`; `held`, if given, overrides the stored value."""
        return cls(
            id=str(data["id"]),
            received_at=str(data["received_at"]),
            status=str(data["status"]),
            mail_from=str(data["mail_from"]),
            rcpt_to=tuple(data["rcpt_to"]),
            from_=tuple(data["from"]),
            to=tuple(data["to"]),
            subject=data.get("subject"),
            message_id=data.get("message_id"),
            size=int(data["size"]),
            held=bool(data.get("held", False)) if held is None else held,
        )


def normalise_address(address: str) -> str:
    """`address` as lookups store it: bare, with the domain part lower-cased."""
    bare = address.strip()
    if bare.startswith("<") and bare.endswith(">"):
        bare = bare[1:-1].strip()
    local, at, domain = bare.rpartition("@")  # the last "@": a quoted local part may hold one
    if not at:
        return bare  # "postmaster" alone, or the null reverse-path
    return f"{local}@{domain.lower()}"


def normalise_message_id(message_id: str) -> str:
    """A Message-ID header value without its angle brackets; case is significant."""
    bare = message_id.strip()
    if bare.startswith("<") and bare.endswith(">"):
        bare = bare[1:-1].strip()
    return bare


def normalise(field: SearchField, value: str) -> str:
    if field == "message_id":
        return normalise_message_id(value)
    return normalise_address(value)


def lookup_key(field: SearchField, value: str) -> str:
    """The key of one lookup list, from an already normalised value."""
    return _KEY_PREFIX[field] + value


def replaces(new_status: str, old_status: str) -> bool:
    """Whether a document with `new_status` may overwrite an entry with `old_status`."""
    return _RANK.get(new_status, 0) >= _RANK.get(old_status, 0)


# Documents come back from storage as JSON, so their shape is checked here, not assumed: the
# record builders take a Document but read it as the untrusted Mapping it may really be.
_Json = Mapping[str, object]


def _bad(document: _Json, why: str) -> PermanentError:
    return PermanentError(f"cannot index document {document.get('id')!r}: {why}")


def _header_addresses(document: _Json, *names: str) -> list[str]:
    """The non-empty addresses of the named header fields, stripped, in order, de-duplicated."""
    seen: dict[str, None] = {}
    for name in names:
        values = document.get(name) or []
        if not isinstance(values, list):
            raise _bad(document, f"{name} is not a list")
        for item in values:
            address = item.get("address") if isinstance(item, Mapping) else None
            # Group syntax and "undisclosed-recipients:;" give entries without an address.
            if isinstance(address, str) and address.strip():
                seen.setdefault(address.strip(), None)
    return list(seen)


class _Envelope(NamedTuple):
    """The envelope fields the index uses, checked."""

    received_at: str
    mail_from: str  # as given ("" when missing)
    rcpt_to: list[object]  # as given; each entry is turned into a string where it is used
    size: int


def _envelope(document: _Json) -> _Envelope:
    envelope = document.get("envelope")
    if not isinstance(envelope, Mapping):
        raise _bad(document, "no envelope")
    received_at = envelope.get("received_at")
    if not isinstance(received_at, str):
        raise _bad(document, "envelope has no received_at")
    rcpt_to = envelope.get("rcpt_to")
    if not isinstance(rcpt_to, list):
        raise _bad(document, "envelope rcpt_to is not a list")
    size = envelope.get("size")
    if not isinstance(size, int):
        raise _bad(document, "envelope size is not an integer")
    return _Envelope(received_at, str(envelope.get("mail_from") or ""), rcpt_to, size)


def _mail_from(envelope: _Envelope) -> str:
    """MAIL FROM as given, except that the null reverse-path is always "" (never "<>")."""
    mail_from = envelope.mail_from.strip()
    return "" if normalise_address(mail_from) == "" else mail_from


def entry_from_document(document: Document) -> Entry:
    """The entry of a stored, parsed or quarantined document. PermanentError if malformed."""
    raw: _Json = document
    message_id = raw.get("id")
    if not isinstance(message_id, str) or not is_valid_id(message_id):
        raise _bad(raw, "not an Inlet message id")
    status = raw.get("status")
    if not isinstance(status, str) or status not in STATUSES:
        raise _bad(raw, f"unknown status {status!r}")
    envelope = _envelope(raw)
    subject = raw.get("subject")
    header_id = raw.get("message_id")
    return Entry(
        id=message_id,
        received_at=envelope.received_at,
        status=status,
        mail_from=_mail_from(envelope),
        rcpt_to=tuple(dict.fromkeys(str(a).strip() for a in envelope.rcpt_to)),
        from_=tuple(_header_addresses(raw, "from")[:MAX_ENTRY_ADDRESSES]),
        to=tuple(_header_addresses(raw, "to", "cc")[:MAX_ENTRY_ADDRESSES]),
        subject=subject[:MAX_SUBJECT_CHARS] if isinstance(subject, str) else None,
        message_id=header_id.strip() if isinstance(header_id, str) and header_id.strip() else None,
        size=envelope.size,
    )


def lookups_of(document: Document) -> frozenset[Lookup]:
    """Every (field, normalised value) a search can find the document by."""
    raw: _Json = document
    envelope = _envelope(raw)
    found: set[Lookup] = set()

    def add(field: SearchField, values: Iterable[str], *, empty_ok: bool = False) -> None:
        for value in values:
            normal = normalise(field, value)
            if (normal or empty_ok) and len(normal.encode("utf-8")) <= MAX_VALUE_BYTES:
                found.add((field, normal))

    # The null reverse-path is a lookup of its own (bounces); an empty header address is not.
    add("from", [envelope.mail_from], empty_ok=True)
    add("from", _header_addresses(raw, "from")[:MAX_HEADER_LOOKUPS])
    add("to", [str(a) for a in envelope.rcpt_to])
    add("to", _header_addresses(raw, "to", "cc")[:MAX_HEADER_LOOKUPS])
    header_id = raw.get("message_id")
    if isinstance(header_id, str):
        add("message_id", [header_id])
    return frozenset(found)


def search_value(field: SearchField, value: str) -> str:
    """The normalised value to search for; ConfigError for a field or value that cannot match."""
    if field not in SEARCH_FIELDS:
        raise ConfigError(f"cannot search by {field!r}; use one of {', '.join(SEARCH_FIELDS)}")
    normal = normalise(field, value)
    if not normal and field != "from":  # only the null reverse-path is a meaningful ""
        raise ConfigError(f"empty {field.replace('_', '-')} to search for")
    return normal


def check_limit(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise ConfigError(f"limit must be a whole number from 1 to {MAX_LIMIT}, not {limit!r}")
    return limit


def _utc(at: datetime) -> datetime:
    # Every time in Inlet is UTC; a naive datetime means UTC, never the host's zone.
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


def id_bounds(since: datetime | None, until: datetime | None) -> tuple[str, str | None]:
    """Ids in [since, until): an inclusive lower and an exclusive upper bound (None: open)."""
    lower = lowest_id(_utc(since)) if since is not None else "0" * 26
    upper = lowest_id(_utc(until)) if until is not None else None
    return lower, upper


def encode_cursor(key: str, last_id: str) -> str:
    """An opaque cursor: base64url JSON of the last returned item's key, as DynamoDB names it
    (LastEvaluatedKey); both adapters use the same form."""
    raw = json.dumps({"pk": key, "sk": last_id}, separators=(",", ":")).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str, key: str) -> str:
    """The last id a previous page returned, checked to belong to the search for `key`."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
    except (binascii.Error, ValueError, TypeError) as exc:  # JSON and UTF-8 errors too
        raise ConfigError("malformed cursor; pass back the cursor a search returned") from exc
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("sk"), str)
        or not is_valid_id(data["sk"])
    ):
        raise ConfigError("malformed cursor; pass back the cursor a search returned")
    if data.get("pk") != key:
        raise ConfigError("cursor belongs to a different search; repeat the same search with it")
    last_id: str = data["sk"]
    return last_id
