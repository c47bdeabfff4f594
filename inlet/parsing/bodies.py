"""The content of one MIME part: transfer-decoded bytes, body text, an embedded message's bytes.

Memory is the reason this does not simply call `get_content()`: the stdlib's base64 path makes
three copies of the encoded payload (bytes, split lines, joined) before decoding, which for a
large attachment costs more than the rest of the message. `binascii` reads the payload string
directly; only when a cheap check says the base64 is not clean does the stdlib's lenient
decoder run, so broken input gets its exact treatment and its defects.
"""

import binascii
import re
from email import errors, policy
from email.generator import BytesGenerator
from email.message import EmailMessage
from io import BytesIO

from inlet.parsing.charsets import decode_text

_IDENTITY = frozenset({"", "7bit", "8bit", "binary"})
_UUENCODE = frozenset({"x-uuencode", "uuencode", "uue", "x-uue"})
_BASE64_SPACE = ("\n", "\r", " ", "\t")
_NOT_BASE64 = re.compile(rb"[^A-Za-z0-9+/]")
_NOT_BASE64_OR_SPACE = re.compile(rb"[^A-Za-z0-9+/=\s]")


def raw_payload(part: EmailMessage) -> object:
    # `get_payload()` decodes a payload holding 8-bit bytes with its charset (lossy); the parser
    # stores exactly what it read in `_payload`, surrogate-escaped.
    return part._payload  # type: ignore[attr-defined]


def release(part: EmailMessage) -> None:
    """Drop a part's payload once its content has been taken, so memory peaks per part."""
    part.set_payload("")


def transfer_encoding(part: EmailMessage) -> str:
    return str(part.get("content-transfer-encoding", "")).strip().lower()


def _clean_base64(payload: str) -> bytes | None:
    """The decoded payload if it is well-formed base64 (line breaks allowed), else None."""
    if not payload.isascii():
        return None
    try:
        data = binascii.a2b_base64(payload)
    except binascii.Error:
        return None
    # a2b_base64 skips anything outside the alphabet and stops at padding: if the bytes it
    # returned account for every character that is not white space, nothing was skipped.
    chars = len(payload) - sum(payload.count(space) for space in _BASE64_SPACE)
    tail = payload.rstrip()
    padding = 2 if tail.endswith("==") else 1 if tail.endswith("=") else 0
    if chars % 4 or len(data) != chars // 4 * 3 - padding:
        return None
    return data


def decoded_bytes(part: EmailMessage) -> tuple[bytes, list[str]]:
    """A leaf part's content with its Content-Transfer-Encoding undone, and notes."""
    payload = raw_payload(part)
    if not isinstance(payload, str):
        return b"", []
    cte = transfer_encoding(part)
    if cte == "base64":
        data = _clean_base64(payload)
        if data is not None:
            return data, []
    elif cte == "quoted-printable" and payload.isascii():
        return binascii.a2b_qp(payload), []
    elif cte in _IDENTITY:
        return payload.encode("ascii", "surrogateescape"), []
    elif cte not in _UUENCODE and cte != "quoted-printable":
        return payload.encode("ascii", "surrogateescape"), [f"unknown transfer encoding {cte!r}"]
    # Broken base64, 8-bit bytes in quoted-printable, uuencode: the stdlib's lenient decoders,
    # which record what they find in `part.defects`.
    known = len(part.defects)
    decoded = part.get_payload(decode=True)
    if cte == "base64" and any(
        isinstance(defect, errors.InvalidBase64LengthDefect) for defect in part.defects[known:]
    ):
        # The stdlib gives up and returns the base64 text itself.
        return lenient_base64(payload.encode("ascii", "surrogateescape"))
    return (decoded if isinstance(decoded, bytes) else b""), []


def lenient_base64(encoded: bytes) -> tuple[bytes, list[str]]:
    """What decodes of base64 that does not decode as it stands, and notes on why not:
    characters outside the alphabet are ignored, missing padding is supplied, and a stray last
    character (4n + 1 data characters, which nothing decodes) is dropped.

    A lone sextet cannot make a byte: it is what is left of a line cut short (in transit or by
    the sending mailer), so the bytes before it are the sender's."""
    notes = []
    kept = _NOT_BASE64.sub(b"", encoded)
    if _NOT_BASE64_OR_SPACE.search(encoded):
        notes.append("invalid base64 characters ignored")
    if len(kept) % 4 == 1:
        notes.append("truncated base64, the stray last character dropped")
        kept = kept[:-1]
    return binascii.a2b_base64(kept + b"=" * (-len(kept) % 4)), notes


def body_text(part: EmailMessage) -> tuple[str, list[str]]:
    """A text part's content as text with "\\n" line ends, and notes."""
    data, notes = decoded_bytes(part)
    try:
        charset = part.get_content_charset()
    except Exception:  # a Content-Type the stdlib cannot read: its defects are on the part
        charset = None
    text, note = decode_text(data, charset)
    if note is not None:
        notes.append(note)
    return text.replace("\r\n", "\n"), notes


# Never refold: an attached message keeps its headers' lines as received.
_GENERATOR_POLICIES = {
    linesep: policy.default.clone(linesep=linesep, refold_source="none")
    for linesep in ("\r\n", "\n")
}


class _Generator(BytesGenerator):
    def _handle_multipart(self, msg: EmailMessage) -> None:
        # A multipart whose boundary never appeared holds its body as one string. The stdlib
        # writes it via get_payload(), which decodes 8-bit bytes with the charset and then
        # cannot encode the result; write the bytes as read instead.
        payload = raw_payload(msg)
        if isinstance(payload, str):
            self.write(payload)
            return
        if isinstance(payload, list) and msg.get_boundary() == "":
            self._write_parts(msg, payload)
            return
        super()._handle_multipart(msg)  # type: ignore[misc]

    def _write_parts(self, msg: EmailMessage, parts: list[EmailMessage]) -> None:
        """What the stdlib writes for a multipart, for one whose boundary is empty
        (boundary=""; the parser split it at bare "--" lines). The stdlib takes "" for no
        boundary: it would make up a random one and rewrite the header, so the embedded
        message's bytes would differ from the received ones, and on every parse."""
        texts = []
        for part in parts:
            buffer = self._new_buffer()  # type: ignore[attr-defined]
            self.clone(buffer).flatten(part, unixfrom=False, linesep=self._NL)  # type: ignore[attr-defined]
            texts.append(buffer.getvalue())
        if msg.preamble is not None:
            self._write_lines(msg.preamble)  # type: ignore[attr-defined]
            self.write(self._NL)  # type: ignore[attr-defined]
        self.write("--" + self._NL)  # type: ignore[attr-defined]
        for number, text in enumerate(texts):
            if number:
                self.write(self._NL + "--" + self._NL)  # type: ignore[attr-defined]
            self._fp.write(text)  # type: ignore[attr-defined]
        self.write(self._NL + "----" + self._NL)  # type: ignore[attr-defined]
        if msg.epilogue is not None:
            self._write_lines(msg.epilogue)  # type: ignore[attr-defined]


def _serialise(part: EmailMessage, linesep: str) -> bytes:
    payload = raw_payload(part)
    out = BytesIO()
    generator = _Generator(out, mangle_from_=False, policy=_GENERATOR_POLICIES[linesep])
    if isinstance(payload, list) and len(payload) == 1 and not _is_report(part):
        generator.flatten(payload[0], unixfrom=False)
        return out.getvalue()
    # Header blocks (delivery-status) or a body that is not a message: the part as it would
    # be written, without its own header.
    generator.flatten(part, unixfrom=False)
    data = out.getvalue()
    separator = data.find((linesep * 2).encode())
    return data[separator + 2 * len(linesep) :] if separator >= 0 else b""


def _is_report(part: EmailMessage) -> bool:
    return part.get_content_type() == "message/delivery-status"


def embedded_bytes(part: EmailMessage, linesep: str) -> tuple[bytes, list[str]]:
    """The content of a message/* part (the embedded message, or a report's header blocks)."""
    try:
        data = _serialise(part, linesep)
    except RecursionError:
        raise
    except Exception as exc:
        # The stdlib's serialiser has more corners than its parser; the raw message keeps
        # what cannot be written out here.
        return b"", [f"embedded message not serialisable ({type(exc).__name__})"]
    cte = transfer_encoding(part)
    if cte in _IDENTITY:
        return data, []
    # RFC 2046 forbids encoding message/*; some senders do it anyway.
    note = f"{part.get_content_type()} with transfer encoding {cte!r}"
    try:
        if cte == "base64":
            return binascii.a2b_base64(data), [note]
        if cte == "quoted-printable":
            return binascii.a2b_qp(data), [note]
    except binascii.Error:
        pass
    return data, [note]
