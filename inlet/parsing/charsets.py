"""Bytes to text for bodies and raw 8-bit headers, never failing.

Mail in the wild declares charsets it does not use, declares none, or names codecs Python does
not know. The rule: a declared charset that decodes cleanly wins (read as its common superset,
as browsers and mail clients do); otherwise UTF-8, with each byte that is not UTF-8 read as
cp1252, because the usual culprit is Latin text mislabelled as (or appended to) UTF-8. A
declared multi-byte charset that fails keeps its reading with the bad bytes replaced: there a
few broken bytes are likelier than a wrong label.
"""

import codecs
import re
from collections.abc import Callable

from inlet.parsing.iso2022jp import decode_iso2022jp_ms

_FALLBACK_ERRORS = "inlet-cp1252-fallback"

# Labels in use that Python has no codec for, and the codec that reads them. RFC 1556: "-i"
# (implicit) and "-e" (explicit) only say how bidirectional text is ordered, not its bytes.
_LABELS = {
    "iso-8859-6-i": "iso8859-6",
    "iso-8859-6-e": "iso8859-6",
    "iso-8859-8-i": "iso8859-8",
    "iso-8859-8-e": "iso8859-8",
    "windows-874": "cp874",
}
_ISO2022JP_MS = "inlet-iso-2022-jp-ms"
# Readings that are no Python codec (strict only: a failure moves on to the next reading).
_DECODERS: dict[str, Callable[[bytes], str]] = {_ISO2022JP_MS: decode_iso2022jp_ms}
# WHATWG-style: what a label means in practice (each a superset of the label's codec).
_SUPERSETS = {
    "iso8859-1": "cp1252",
    "iso8859-9": "cp1254",
    "iso8859-11": "cp874",
    "tis-620": "cp874",
    "shift_jis": "cp932",
    "euc_kr": "cp949",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "iso2022_jp": _ISO2022JP_MS,
}
# Codecs Python has that are no charset: they would interpret the text, not decode it.
_NOT_CHARSETS = frozenset({"unicode-escape", "raw-unicode-escape", "undefined", "punycode", "idna"})
_SURROGATE = re.compile("[\ud800-\udfff]")
# Codecs whose failure means "this is not that charset" rather than "a few bad bytes".
_SINGLE_BYTE_OR_UTF8 = {"ascii", "utf-8", "cp1252", "iso8859-1"}


def _cp1252_fallback(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    bad = exc.object[exc.start : exc.end]
    return bad.decode("cp1252", "replace"), exc.end


codecs.register_error(_FALLBACK_ERRORS, _cp1252_fallback)


def codec_name(charset: str | None) -> str | None:
    """Python's name for a MIME charset label, or None when Python does not know it."""
    if not charset:
        return None
    label = charset.strip().strip('"').lower()
    try:
        name = codecs.lookup(_LABELS.get(label, label)).name
    except (LookupError, ValueError):
        return None
    return None if name in _NOT_CHARSETS else name


def scrub(text: str) -> str:
    """`text` without lone surrogates, which no UTF-8 (or JSON encoder) accepts.

    They come from bytes the stdlib could not decode (surrogate escapes: read as UTF-8 here)
    and from codecs such as UTF-7 that can produce half a pair."""
    if text.isascii() or _SURROGATE.search(text) is None:
        return text
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text)


def utf8_with_fallback(data: bytes) -> str:
    """UTF-8 where the bytes are UTF-8, cp1252 for each byte that is not."""
    return data.decode("utf-8", _FALLBACK_ERRORS)


def _try(data: bytes, codec: str, errors: str = "strict") -> str | None:
    decoder = _DECODERS.get(codec)
    try:
        return decoder(data) if decoder is not None else data.decode(codec, errors)
    except (UnicodeError, LookupError):
        # LookupError: a codec that is not a charset ("rot13", "base64") named as one.
        return None


def decode_text(data: bytes, charset: str | None) -> tuple[str, str | None]:
    """`data` as text, and a note when the declared `charset` could not be used as it stands."""
    text, note = _decode_text(data, charset)
    return scrub(text), note


def _decode_text(data: bytes, charset: str | None) -> tuple[str, str | None]:
    declared = codec_name(charset)
    if declared is None:
        label = f"unknown charset {charset!r}" if charset else "no charset"
    else:
        label = f"charset {charset!r}"
        for name in dict.fromkeys((_SUPERSETS.get(declared, declared), declared)):
            text = _try(data, name)
            if text is not None:
                return text, None
    if declared is None and data.isascii():
        return data.decode("ascii"), f"{label}, read as ascii" if charset else None
    # "does not fit" only for a charset Python knows; an unknown or absent one just gets a reading.
    verdict = f"{label} does not fit" if declared else label
    text = _try(data, "utf-8")
    if text is not None:
        return text, f"{verdict}, read as utf-8"
    if declared is not None and declared not in _SINGLE_BYTE_OR_UTF8:
        text = _try(data, declared, "replace")
        if text is not None:
            return text, f"{label}: invalid bytes replaced"
    return utf8_with_fallback(data), f"{verdict}, read as utf-8 and cp1252"
