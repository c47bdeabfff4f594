"""The document's content fields: which part is the text, which the html, and the attachments.

- the text and html bodies are the parts `get_body(("plain",))` and `get_body(("html",))`
  choose, exactly as the stdlib would;
- every other leaf part is an attachment, numbered in walk order (iter_attachments semantics
  over the whole tree), including inline images and a multipart whose boundary never appeared
  (its undivided body is kept rather than lost);
- every multipart whose parts were found is walked, whatever its subtype: RFC 2046 §5.1.7 has
  an unrecognised subtype ("multipart/*" included) treated as multipart/mixed, as get_body
  does; a subtype that is no valid name is noted;
- uuencoded files in the text body become attachments of their own, in place (uuencode.py);
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
from inlet.parsing.filenames import guess_type, path_note, safe_filename, sanitize
from inlet.parsing.headers import decode_unstructured, unfold, unfold_words
from inlet.parsing.uuencode import UuFile, extract_uu

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
    """A multipart whose parts were found (walked), as opposed to a leaf or a message/* part.

    The feed parser splits any multipart/<anything> with a boundary; the maintype decides."""
    if not isinstance(raw_payload(part), list):
        return False
    try:
        return part.get_content_maintype() == "multipart"
    except Exception:  # the stdlib's header parser has raised on odd input
        return False


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
        if field == "text":
            text, notes = body_text(part)
            release(part)
            document["text"], files, more = extract_uu(text)
            notes += more
            for file in files:
                notes += _save_uu(file, attachments, save_attachment)
        elif field is not None:
            document[field], notes = body_text(part)
            release(part)
        elif _is_container(part):
            if _content_type(part) is None:
                notes.append("multipart subtype not recognised, walked as multipart/mixed")
            pending.extend(reversed(list(_children(part, section))))
        else:
            if isinstance(raw_payload(part), list):
                nested = _embedded_defects(part, section)
            leaf, data, notes = _attachment(part, len(attachments), linesep)
            release(part)
            _save(leaf, data, attachments, save_attachment)
            del data
        label = _label(section)
        defects.extend(f"{label}: {type(defect).__name__}" for defect in part.defects)
        defects.extend(f"{label}: {note}" for note in notes)
        defects.extend(nested)
    document["attachments"] = attachments


def _save(
    leaf: _Leaf, data: bytes, attachments: list[Attachment], save_attachment: SaveAttachment
) -> None:
    """Hand attachment number len(attachments) to the store and list it."""
    index = len(attachments)
    digest = hashlib.sha256(data).digest()
    key = save_attachment(index, leaf.filename, data, leaf.content_type, digest)
    attachments.append(
        {
            "index": index,
            "filename": leaf.filename,
            "content_type": leaf.content_type,
            "disposition": leaf.disposition,
            "content_id": leaf.content_id,
            "size": len(data),
            "sha256": digest.hex(),
            "key": key,
        }
    )


def _save_uu(
    file: UuFile, attachments: list[Attachment], save_attachment: SaveAttachment
) -> list[str]:
    """Store a file found uuencoded in the text body; notes on its name."""
    content_type = guess_type(sanitize(file.name))
    leaf = _Leaf(
        filename=safe_filename(file.name, len(attachments), content_type),
        content_type=content_type,
        disposition="attachment",
        content_id=None,
    )
    _save(leaf, file.data, attachments, save_attachment)
    note = path_note(file.name)
    return [] if note is None else [note]


def _attachment(part: EmailMessage, index: int, linesep: str) -> tuple[_Leaf, bytes, list[str]]:
    """What an attachment's entry says of the part, its content and notes on it."""
    notes: list[str] = []
    content_type = _content_type(part)
    if content_type is None:
        # RFC 2045 §5.2: a syntactically invalid Content-Type is taken as the default.
        content_type = "text/plain"
        notes.append("invalid Content-Type, taken as text/plain")
    raw_name = _filename(part, notes)
    note = path_note(raw_name)
    if note is not None:
        notes.append(note)
    if isinstance(raw_payload(part), list):
        if raw_name is None and content_type in _EMBEDDED_MESSAGES:
            # A subject is no path: "A/B test" names "A_B_test.eml", not "B_test.eml".
            subject = (_embedded_subject(part) or "").replace("/", "_").replace("\\", "_")
            raw_name = f"{sanitize(subject) or 'message'}.eml"
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


# A quoted filename= (Content-Disposition) or name= (Content-Type) parameter, as written.
_QUOTED_NAME = {
    "content-disposition": re.compile(r'(?i)(?:^|;)\s*filename\s*=\s*"((?:[^"\\]|\\.)*)"'),
    "content-type": re.compile(r'(?i)(?:^|;)\s*name\s*=\s*"((?:[^"\\]|\\.)*)"'),
}
_QUOTED_PAIR = re.compile(r"\\(.)")


def _unescaped_backslashes(part: EmailMessage, name: str) -> str:
    """The name with its backslashes as written, when the sender did not escape them.

    Windows mailers (Netscape 4 among them) wrote filename="C:\\TEMP\\x.png", each "\\"
    unescaped; read as RFC 5322 quoted-pairs that is "C:TEMPx.png", the path glued to the
    name. When every backslash in the quoted value precedes a character that needs no
    escaping, the backslashes are the sender's own characters."""
    for header in ("content-disposition", "content-type"):
        value = _first_raw(part, header)
        found = _QUOTED_NAME[header].search(value) if value and "\\" in value else None
        if found is None:
            continue
        written = found.group(1)
        pairs = _QUOTED_PAIR.findall(written)
        unescaped = pairs and all(char not in '"\\' for char in pairs)
        return written if unescaped and _QUOTED_PAIR.sub(r"\1", written) == name else name
    return name


def _filename(part: EmailMessage, notes: list[str]) -> str | None:
    try:
        name = part.get_filename()
        if name and len(name) <= _NAME_LIMIT:
            name = _unescaped_backslashes(part, name)
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
        for header, raw in inner.raw_items():
            if header.lower() == "subject":
                # Only the start can end up in a filename; the rest would only cost parsing time.
                subject = unfold_words(raw[:_NAME_LIMIT])[0].strip()
                return decode_unstructured(subject) if subject else None
        return None
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
