"""Header values as the document holds them: unfolded, 8-bit bytes and RFC 2047 words decoded.

Values come from `Message.raw_items()`, i.e. as received (BytesFeedParser keeps 8-bit bytes as
surrogate escapes). The stdlib's structured parsers are used where structure matters (address
lists); they raise on some inputs, which callers turn into defect notes.

Those parsers cost memory out of all proportion to the text: an address list's parse tree takes
up to 3 KB per character, and every encoded word keeps the rest of the value after it
(EncodedWord.cte), so n encoded words cost n times the value's length (a 55 KB Subject of
encoded words peaked at 73 MB, a 60 KB To at 196 MB and 10 s). So a value longer than
_PIECE_CHARS is given to them in pieces of at most that: an address list as runs of whole
entries (split at its top-level commas), unstructured text as runs of whole words (split at
white space, the white space between two encoded words dropped as RFC 2047 §6.2 has it). That
is the same result for any well-formed value; an entry or a run of encoded words longer than a
piece is not parsed.
"""

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from email.headerregistry import AddressHeader, UnstructuredHeader
from email.utils import parsedate_to_datetime
from typing import Any

from inlet.document import Address
from inlet.parsing.charsets import scrub, utf8_with_fallback
from inlet.parsing.encoded_words import canonical_words

_FOLD = re.compile(r"[\r\n]")
_MSG_ID = re.compile(r"<([^<>]*)>")


def unfold(raw: str) -> tuple[str, str | None]:
    """A raw header value on one line, its 8-bit bytes read as UTF-8 (cp1252 where not)."""
    return _eight_bit(_FOLD.sub("", raw))


def unfold_words(raw: str) -> tuple[str, list[str]]:
    """unfold(), with each run of RFC 2047 encoded words first decoded by Inlet's rules and
    put back as one UTF-8 word (encoded_words.py), which the stdlib's parsers read as is."""
    value, notes = canonical_words(_FOLD.sub("", raw))
    value, note = _eight_bit(value)
    return value, notes if note is None else [note, *notes]


def _eight_bit(value: str) -> tuple[str, str | None]:
    if value.isascii():
        return value, None
    data = value.encode("ascii", "surrogateescape")
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError:
        return utf8_with_fallback(data), "8-bit bytes not utf-8, read as cp1252"


_PIECE_CHARS = 2048
# A run of text without white space holding more encoded words than this (they should be
# separated by white space) is not decoded when it is longer than a piece.
_RUN_WORDS = 8
_ENCODED_WORD = "encoded-word"  # the stdlib's token type
_WORD = re.compile(r"[ \t]*[^ \t]+|[ \t]+")


def _word_pieces(value: str) -> Iterator[str]:
    """`value` in pieces of whole words (each with the white space before it), each at most
    _PIECE_CHARS long unless one word alone is longer."""
    start = end = 0
    for word in _WORD.finditer(value):
        if word.end() - start > _PIECE_CHARS and end > start:
            yield value[start:end]
            start = end
        end = word.end()
    if end > start:
        yield value[start:end]


def decode_unstructured(value: str) -> str:
    """An unfolded value with its RFC 2047 encoded words decoded."""
    if "=?" not in value:
        return value
    if len(value) <= _PIECE_CHARS:
        return scrub(_decode_piece(value)[0])
    decoded: list[str] = []
    after_word = False  # the text so far ends with an encoded word
    for piece in _word_pieces(value):
        if "=?" not in piece or (len(piece) > _PIECE_CHARS and piece.count("=?") > _RUN_WORDS):
            decoded.append(piece)
            after_word = False
            continue
        text, leading_space, ends_with_word = _decode_piece(piece)
        decoded.append(text[leading_space:] if after_word else text)
        after_word = ends_with_word
    return scrub("".join(decoded))


def _decode_piece(piece: str) -> tuple[str, int, bool]:
    """The decoded piece; the length of its leading white space when an encoded word follows
    it (dropped after an encoded word); whether it ends with an encoded word."""
    kwds: dict[str, Any] = {"defects": []}
    UnstructuredHeader.parse(piece, kwds)
    kinds = [token.token_type for token in kwds["parse_tree"]]
    leading = len(str(kwds["parse_tree"][0])) if kinds[:2] == ["fws", _ENCODED_WORD] else 0
    return str(kwds["decoded"]), leading, kinds[-1:] == [_ENCODED_WORD]


def _entries(value: str) -> Iterator[str]:
    """The entries of an address list: split at the commas outside quoted strings, comments,
    angle brackets, domain literals and groups."""
    start = depth = 0
    quoted = literal = angle = group = escaped = False
    for at, char in enumerate(value):
        if escaped:
            escaped = False
        elif quoted or literal or depth:
            if char == "\\":
                escaped = True
            elif quoted:
                quoted = char != '"'
            elif literal:
                literal = char != "]"
            elif char == "(":
                depth += 1
            elif char == ")":
                depth -= 1
        elif char == '"':
            quoted = True
        elif char == "(":
            depth = 1
        elif char == "[":
            literal = True
        elif char == "<":
            angle = True
        elif char == ">":
            angle = False
        elif char == ":" and not angle:
            group = True
        elif char == ";" and not angle:
            group = False
        elif char == "," and not angle and not group:
            yield value[start:at]
            start = at + 1
    yield value[start:]


def _address_pieces(value: str) -> Iterator[str]:
    """Runs of whole entries, each at most _PIECE_CHARS long unless one entry alone is."""
    run: list[str] = []
    size = 0
    for entry in _entries(value):
        if run and size + 1 + len(entry) > _PIECE_CHARS:
            yield ",".join(run)
            run, size = [], 0
        run.append(entry)
        size += len(entry) + 1
    if run:
        yield ",".join(run)


def parse_addresses(value: str) -> tuple[list[Address], list[str]]:
    """The mailboxes of an unfolded address-list value (groups flattened), and defect names."""
    pieces = [value] if len(value) <= _PIECE_CHARS else list(_address_pieces(value))
    found: list[Address] = []
    notes: list[str] = []
    dropped = 0
    named_group = unreadable = False
    for piece in pieces:
        if len(piece) > _PIECE_CHARS:
            notes.append(f"entry not read, longer than {_PIECE_CHARS} characters")
            unreadable = True
            continue
        kwds: dict[str, Any] = {"defects": []}
        try:
            AddressHeader.parse(piece, kwds)
        except Exception as exc:  # the stdlib parser raises IndexError etc. on some garbage
            notes.append(f"unparseable ({type(exc).__name__})")
            unreadable = True
            continue
        for group in kwds["groups"]:
            named_group = named_group or bool(group.display_name)
            for address in group.addresses:
                addr_spec = scrub(address.addr_spec)
                # A bare local part ("root") is kept; a phrase with no address at all ("Some
                # Body", which the stdlib turns into a quoted local part) or "<>" is not one.
                if address.domain or (address.username and addr_spec == address.username):
                    found.append({"name": scrub(address.display_name), "address": addr_spec})
                else:
                    dropped += 1
        notes.extend(type(defect).__name__ for defect in kwds["defects"])
    notes += ["entry without an address"] * dropped
    if not found and not dropped and not unreadable and value.strip() and not named_group:
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
