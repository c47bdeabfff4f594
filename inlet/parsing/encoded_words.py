"""RFC 2047 encoded words, decoded by Inlet's charset rules before the stdlib reads a header.

The stdlib decodes each encoded word on its own, with Python's codec for the label only, and
gives up on a word holding raw 8-bit bytes (Eudora wrote "=?iso-8859-1?Q?Fr\\xf6sche?=" with
the 0xF6 unescaped). So each run of encoded words (words separated by nothing but linear white
space) is decoded here and put back as one equivalent word, "=?utf-8?b?...?=", which the
stdlib's parsers then read wherever a word may stand (unstructured text, a display name, a
quoted string) without needing to understand it:

- raw 8-bit bytes inside a word are read as bytes of the charset the word declares (the
  sender's mailer wrote them in it), with a defect;
- the charset is read by charsets.decode_text, the table the bodies use: a label's superset,
  labels Python lacks, and a fallback with a defect for labels nobody knows;
- the white space between adjacent words is dropped (RFC 2047 §6.2), in display names too;
- the bytes of adjacent words in one charset are joined before decoding, so a character split
  across two words (forbidden by §5, common in practice) survives;
- B words: characters outside base64 are ignored and a stray last character is dropped
  (length ≡ 1 mod 4 cannot be decoded), each with a defect.

Only words standing as words are rewritten: after the start, white space or one of `"(,:;`
and before the end, white space or one of `")<,;`. A word glued to other text ("Foo=?...?=")
is left to the stdlib, which reads it, or not, as before.
"""

import base64
import binascii
import re
from typing import NamedTuple

from inlet.parsing.bodies import lenient_base64
from inlet.parsing.charsets import decode_text

# Charset labels are bounded and printable ASCII (they end up in defect notes); the encoded
# text may hold anything but "?" and white space, raw bytes included (surrogate escapes).
_WORD = re.compile(
    r"(?<![^\s\"(,:;])=\?([!->@-~]{1,64}?)(?:\*[!->@-~]*)?\?([BbQq])\?([^?\s]*)\?=(?=[\s\")<,;]|\Z)",
    re.ASCII,
)
_BETWEEN = re.compile(r"[ \t]*\Z")


class _Word(NamedTuple):
    start: int
    end: int
    charset: str
    data: bytes


def _bytes(text: str) -> bytes:
    # Raw bytes arrive as surrogate escapes; anything else is already text (written as UTF-8).
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate that escapes no byte
        return text.encode("utf-8", "replace")


def _word(match: re.Match[str], notes: list[str]) -> _Word:
    label, kind, text = match.groups()
    charset = label.lower()
    encoded = _bytes(text)
    if not encoded.isascii():
        notes.append(f"raw 8-bit bytes in an encoded word, read as {charset!r}")
    if kind in "Bb":
        data, more = lenient_base64(encoded)
        notes.extend(f"encoded word: {note}" for note in more)
    else:
        # RFC 2047 §4.2: "_" is a space, "=XX" a byte; a raw byte stands for itself.
        data = binascii.a2b_qp(encoded, header=True)
    return _Word(match.start(), match.end(), charset, data)


def _runs(value: str, notes: list[str]) -> list[list[_Word]]:
    runs: list[list[_Word]] = []
    for match in _WORD.finditer(value):
        word = _word(match, notes)
        last = runs[-1][-1] if runs else None
        if last is not None and _BETWEEN.match(value, last.end, word.start):
            runs[-1].append(word)
        else:
            runs.append([word])
    return runs


def _text(run: list[_Word], notes: list[str]) -> str:
    texts: list[str] = []
    at = 0
    while at < len(run):
        charset = run[at].charset
        data = bytearray()
        while at < len(run) and run[at].charset == charset:
            data += run[at].data
            at += 1
        text, note = decode_text(bytes(data), charset)
        if note is not None:
            notes.append(f"encoded word: {note}")
        texts.append(text)
    return "".join(texts)


def canonical_words(value: str) -> tuple[str, list[str]]:
    """`value` (a header value on one line, raw bytes as surrogate escapes) with each run of
    encoded words replaced by one UTF-8 word of the same text, and notes on what was odd."""
    if "=?" not in value:
        return value, []
    notes: list[str] = []
    out: list[str] = []
    done = 0
    for run in _runs(value, notes):
        encoded = base64.b64encode(_text(run, notes).encode("utf-8")).decode("ascii")
        out += [value[done : run[0].start], f"=?utf-8?b?{encoded}?="]
        done = run[-1].end
    out.append(value[done:])
    return "".join(out), list(dict.fromkeys(notes))
