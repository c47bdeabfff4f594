"""Attachment filenames that are safe in a storage key, a local path and a download header.

The name a sender chose is kept as far as that is safe: its last path component only, NFC,
letters and digits of any script, and "._-"; anything else becomes "_". Keys never depend on
the result being safe alone: the key also carries the message id and the attachment index.

A name with a directory path ("C:\\TEMP\\x.png", "../../etc/passwd") keeps its last component:
RFC 2183 §2.3 says the receiving MUA should not respect directory path information, so it is
no part of the name. The name as sent is not lost: path_note() gives the defect that records it.
"""

import mimetypes
import unicodedata

MAX_FILENAME_BYTES = 100
# An extension longer than this is more likely part of the name than a file type.
_MAX_EXTENSION_BYTES = 16
# Built-in types only: a fresh MimeTypes ignores the host's /etc/mime.types, so the fallback
# extension does not depend on where the parser runs.
_TYPES = mimetypes.MimeTypes()
# How much of a sender's name a defect note repeats.
_NOTE_CHARS = 200


def _allowed(char: str) -> bool:
    if char.isascii():
        return char.isalnum() or char in "._-"
    # Letters, combining marks (needed to spell many scripts) and decimal digits.
    category = unicodedata.category(char)
    return category[0] == "L" or category in ("Mn", "Mc", "Nd")


def _truncate(text: str, budget: int) -> str:
    encoded = text.encode("utf-8")[:budget]
    return encoded.decode("utf-8", "ignore")


def _fit(name: str) -> str:
    if len(name.encode("utf-8")) <= MAX_FILENAME_BYTES:
        return name
    stem, dot, extension = name.rpartition(".")
    suffix = dot + extension
    if stem and len(suffix.encode("utf-8")) <= _MAX_EXTENSION_BYTES:
        return _truncate(stem, MAX_FILENAME_BYTES - len(suffix.encode("utf-8"))) + suffix
    return _truncate(name, MAX_FILENAME_BYTES)


def default_filename(index: int, content_type: str) -> str:
    extension = _TYPES.guess_extension(content_type) or ".bin"
    return f"attachment-{index}{extension}"


def _has_path(name: str) -> bool:
    return "/" in name or "\\" in name


def path_note(raw: str | None) -> str | None:
    """The defect note for a name holding a directory path (None when it has none): the name
    as sent, and that only its last component is used."""
    if raw is None or not _has_path(raw):
        return None
    shown = raw[:_NOTE_CHARS].encode("utf-8", "replace").decode("utf-8")
    return f"filename {shown!r} has a directory path, only its last component kept"


def guess_type(name: str) -> str:
    """The media type a file's name suggests (built-in table), application/octet-stream if
    none does or the name says it is compressed (".tar.gz" is no tar file as it stands)."""
    content_type, encoding = _TYPES.guess_type(name, strict=False)
    if content_type is None or encoding is not None:
        return "application/octet-stream"
    return content_type


def sanitize(raw: str | None) -> str:
    """The safe form of `raw` (already RFC 2231/2047 decoded); empty when nothing is left."""
    name = raw or ""
    # Both separators, whatever the sender's platform: "C:\\x\\evil.exe" names evil.exe.
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = unicodedata.normalize("NFC", name)
    name = "".join(c for c in name if unicodedata.category(c) != "Cc")
    name = _fit("".join(c if _allowed(c) else "_" for c in name))
    while ".." in name:
        name = name.replace("..", ".")
    # A leading dot hides the file; a trailing one is dropped by Windows, changing the type.
    return name.strip(".")


def safe_filename(raw: str | None, index: int, content_type: str) -> str:
    """The safe form of `raw`, or a name made from the index and the content type."""
    return sanitize(raw) or default_filename(index, content_type)
