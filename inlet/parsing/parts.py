"""The document's content fields: which part is the text, which the html, and the attachments.

- the text and html bodies are the parts `get_body(("plain",))` and `get_body(("html",))`
  choose, exactly as the stdlib would;
- every other leaf part is an attachment, numbered in walk order (iter_attachments semantics
  over the whole tree), including inline images and a multipart whose boundary never appeared
  (its undivided body is kept rather than lost);
- a message/* part (an attached message, a delivery report) is one attachment holding the
  embedded message; it is not walked for bodies or attachments, only for its defects.

Each part's payload is dropped as soon as its content has been taken, and each attachment is
handed over before the next is decoded, so memory peaks at the parsed tree plus one part.
"""

import hashlib
import re
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Literal, NamedTuple, Protocol

from inlet.document import Attachment, Disposition, Document
from inlet.parsing.bodies import body_text, decoded_bytes, embedded_bytes, raw_payload, release
from inlet.parsing.filenames import safe_filename, sanitize
from inlet.parsing.headers import decode_unstructured, unfold

# Decoding more of a name than can end up in a filename would only cost parsing time.
_NAME_LIMIT = 4096
_EMBEDDED_MESSAGES = frozenset({"message/rfc822", "message/global"})
# RFC 6838 §4.2 restricted names, lower-cased as get_content_type() returns them.
_MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*\Z")


class SaveAttachment(Protocol):
    def __call__(
        self, index: int, safe_filename: str, data: bytes, content_type: str, sha256: bytes, /
    ) -> str:
        """Store attachment `index` of the message (its decoded bytes) and return the key it
        is stored under, which the document records: attachments/<id>/<index>-<safe_filename>
        (the store knows the id and builds keys; the parser never does). `safe_filename` is
        already sanitised; `sha256` is the digest of `data`, computed once here and handed on
        so the store need not hash the bytes again."""


class _Leaf(NamedTuple):
    """What an attachment's entry says of its part, before it is stored."""

    filename: str
    content_type: str
    disposition: Disposition | None
    content_id: str | None


def _body(root: EmailMessage, subtype: str, defects: list[str]) -> EmailMessage | None:
    try:
        return root.get_body(preferencelist=(subtype,))  # type: ignore[return-value]
    except RecursionError:
        raise
    except Exception as exc:
        defects.append(f"message: no {subtype} body, the stdlib raised {type(exc).__name__}")
        return None


def _label(section: str) -> str:
    return f"part {section}" if section else "message"


def _child(section: str, number: int) -> str:
    return f"{section}.{number}" if section else str(number)


def _children(part: EmailMessage, section: str) -> Iterator[tuple[EmailMessage, str]]:
    payload = raw_payload(part)
    if isinstance(payload, list):
        for number, child in enumerate(payload, 1):
            if isinstance(child, EmailMessage):
                yield child, _child(section, number)


def _content_type(part: EmailMessage) -> str | None:
    """The part's type/subtype, or None when its Content-Type is not a valid one."""
    try:
        content_type = part.get_content_type()
    except Exception:  # the stdlib's header parser has raised on odd input
        return None
    # The stdlib passes through whatever precedes ";" if it holds one "/" ("text/pl ain",
    # '"text/html"'); such a value must not reach a storage Content-Type header.
    return content_type if _MEDIA_TYPE.match(content_type) else None


def _is_container(part: EmailMessage) -> bool:
    """A multipart whose parts were found (walked), as opposed to a leaf or a message/* part."""
    content_type = _content_type(part)
    return isinstance(raw_payload(part), list) and (content_type or "").startswith("multipart/")


def content_into(
    document: Document,
    root: EmailMessage,
    linesep: str,
    save_attachment: SaveAttachment,
    defects: list[str],
) -> None:
    bodies: dict[Literal["text", "html"], EmailMessage | None] = {
        "text": _body(root, "plain", defects),
        "html": _body(root, "html", defects),
    }
    attachments: list[Attachment] = []
    pending = [(root, "")]
    while pending:
        part, section = pending.pop()
        notes: list[str] = []
        nested: list[str] = []
        field = next((name for name, body in bodies.items() if body is part), None)
        if field is not None:
            document[field], notes = body_text(part)
            release(part)
        elif _is_container(part):
            pending.extend(reversed(list(_children(part, section))))
        else:
            if isinstance(raw_payload(part), list):
                nested = _embedded_defects(part, section)
            index = len(attachments)
            leaf, data, notes = _attachment(part, index, linesep)
            release(part)
            digest = hashlib.sha256(data).digest()
            key = save_attachment(index, leaf.filename, data, leaf.content_type, digest)
            size = len(data)
            del data
            attachments.append(
                {
                    "index": index,
                    "filename": leaf.filename,
                    "content_type": leaf.content_type,
                    "disposition": leaf.disposition,
                    "content_id": leaf.content_id,
                    "size": size,
                    "sha256": digest.hex(),
                    "key": key,
                }
            )
        label = _label(section)
        defects.extend(f"{label}: {type(defect).__name__}" for defect in part.defects)
        defects.extend(f"{label}: {note}" for note in notes)
        defects.extend(nested)
    document["attachments"] = attachments


def _attachment(part: EmailMessage, index: int, linesep: str) -> tuple[_Leaf, bytes, list[str]]:
    """What an attachment's entry says of the part, its content and notes on it."""
    notes: list[str] = []
    content_type = _content_type(part)
    if content_type is None:
        # RFC 2045 §5.2: a syntactically invalid Content-Type is taken as the default.
        content_type = "text/plain"
        notes.append("invalid Content-Type, taken as text/plain")
    raw_name = _filename(part, notes)
    if isinstance(raw_payload(part), list):
        if raw_name is None and content_type in _EMBEDDED_MESSAGES:
            raw_name = f"{sanitize(_embedded_subject(part)) or 'message'}.eml"
        data, more = embedded_bytes(part, linesep)
    else:
        data, more = decoded_bytes(part)
    notes.extend(more)
    leaf = _Leaf(
        filename=safe_filename(raw_name, index, content_type),
        content_type=content_type,
        disposition=_disposition(part),
        content_id=_first_raw(part, "content-id"),
    )
    return leaf, data, notes


def _first_raw(part: EmailMessage, name: str) -> str | None:
    for header, raw in part.raw_items():
        if header.lower() == name:
            value = unfold(raw)[0].strip()
            return value or None
    return None


def _filename(part: EmailMessage, notes: list[str]) -> str | None:
    try:
        name = part.get_filename()
        if name and "=?" in name and len(name) <= _NAME_LIMIT:
            # RFC 2047 where it does not belong (an unquoted parameter): what mailers show.
            name = decode_unstructured(name)
    except Exception as exc:  # the stdlib's header parser has raised on odd input
        notes.append(f"unreadable filename ({type(exc).__name__})")
        return None
    return name


def _disposition(part: EmailMessage) -> Disposition | None:
    try:
        disposition = part.get_content_disposition()
    except Exception:
        return None
    if not disposition:
        return None
    # RFC 2183 §2.8: an unrecognised disposition is treated as "attachment".
    return "inline" if disposition == "inline" else "attachment"


def _embedded_subject(part: EmailMessage) -> str | None:
    for inner, _ in _children(part, ""):
        subject = _first_raw(inner, "subject")
        # Only the start can end up in a filename; the rest would only cost parsing time.
        return decode_unstructured(subject[:_NAME_LIMIT]) if subject else None
    return None


def _embedded_defects(part: EmailMessage, section: str) -> list[str]:
    """The defects found inside an embedded message, named by section like the outer ones."""
    found: list[str] = []
    # The embedded message's own header and body are section `section` itself (as in IMAP).
    pending = [(inner, section, True) for inner, _ in reversed(list(_children(part, section)))]
    while pending:
        inner, inner_section, is_root = pending.pop()
        label = f"{_label(inner_section)} (embedded message)" if is_root else _label(inner_section)
        found.extend(f"{label}: {type(defect).__name__}" for defect in inner.defects)
        children = [(child, number, False) for child, number in _children(inner, inner_section)]
        pending.extend(reversed(children))
    return found
