"""Raw message bytes to the parsed document, with attachments handed out one at a time.

The message is fed to the stdlib's BytesFeedParser in the caller's chunks (never joined), then
fields.py fills the header fields and parts.py the bodies and attachments.
"""

from collections.abc import Iterable
from datetime import datetime
from email.feedparser import BytesFeedParser
from email.message import EmailMessage

from inlet.document import Document
from inlet.envelope import Envelope
from inlet.errors import PermanentError
from inlet.parsing.document import blank_document
from inlet.parsing.fields import headers_into
from inlet.parsing.headers import rfc3339
from inlet.parsing.mimepolicy import message_policy
from inlet.parsing.parts import SaveAttachment, content_into


class ParseError(PermanentError):
    """The message cannot be read at all; it is quarantined with this as the reason."""


def _read(chunks: Iterable[bytes]) -> tuple[EmailMessage, str]:
    """The parsed tree, and the line ending the message uses (for re-serialising parts)."""
    parser = BytesFeedParser(EmailMessage, policy=message_policy())
    crlf: bool | None = None
    last = b""
    # Only the parser's own failures make the message unreadable: an error reading the chunks
    # (storage) propagates as it is, to be retried.
    for chunk in chunks:
        if crlf is None and chunk:
            at = chunk.find(b"\n")
            if at >= 0:
                crlf = (chunk[at - 1 : at] if at else last) == b"\r"
            last = chunk[-1:]
        try:
            parser.feed(chunk)
        except MemoryError:
            raise
        except Exception as exc:
            raise ParseError(f"unreadable message: {type(exc).__name__}: {exc}") from exc
    try:
        root = parser.close()
    except MemoryError:
        raise
    except Exception as exc:
        raise ParseError(f"unreadable message: {type(exc).__name__}: {exc}") from exc
    return root, "\n" if crlf is False else "\r\n"


def parse_message(
    chunks: Iterable[bytes],
    envelope: Envelope,
    *,
    save_attachment: SaveAttachment,
    parsed_at: datetime,
) -> Document:
    """Parse a raw message into its document, handing each attachment to `save_attachment`
    (which stores it and returns its key, for the document).

    MIME defects and bad encodings are listed in `defects`, never raised. ParseError only when
    the message cannot be read at all (the stdlib parser itself raising)."""
    root, linesep = _read(chunks)
    document = blank_document(envelope, "parsed")
    defects: list[str] = []
    try:
        headers_into(document, root, defects)
        content_into(document, root, linesep, save_attachment, defects)
    except RecursionError as exc:
        # Nesting the parser survived but the stdlib's recursive helpers do not.
        raise ParseError("unreadable message: MIME structure nested too deeply") from exc
    document["defects"] = defects
    document["parsed_at"] = rfc3339(parsed_at, milliseconds=True)
    return document
