"""uuencoded files inside a text body: `begin <mode> <name>`, data lines, `end`.

Mail from before MIME (and mailers long after it) attached files by pasting them uuencoded
into the text. Each well-formed block becomes a file of its own and leaves the text; a block
that is not well-formed stays in the text, where nothing of it is lost, with a note.

A data line starts with a character giving its byte count n (chr(32 + n); "`" for 0) followed
by ceil(n / 3) * 4 characters in " "-"`"; one extra character is tolerated (some encoders add
a checksum). The block ends with a zero-length line (or directly) and then `end`. A line that
lost its trailing spaces in transit is too short and makes the block malformed: guessing the
missing bits would store a file that is not the sender's.
"""

import binascii
import re
from typing import NamedTuple

_BEGIN = re.compile(r"begin [0-7]{3,4} (.*\S)[ \t]*\Z")
# A cheap test for a begin line anywhere, so a text without one is not split into lines.
_ANY_BEGIN = re.compile(r"^begin [0-7]{3,4} ", re.MULTILINE)
_NAME_SHOWN = 200
# Malformed blocks noted one by one; past this many, one note counts the rest (a text of
# "begin" lines must not make a defect list as long as itself).
_NOTED = 10


class UuFile(NamedTuple):
    name: str
    data: bytes


class _Malformed(Exception):
    pass


def _data_line(line: str) -> bytes:
    count = (ord(line[0]) - 32) & 0o77
    length = len(line) - 1
    expected = (count + 2) // 3 * 4
    if not expected <= length <= expected + 1:
        raise _Malformed(f"a line of {length} characters for {count} bytes")
    try:
        return binascii.a2b_uu(line[: expected + 1])
    except binascii.Error:
        raise _Malformed("a character outside uuencoding") from None


def _block(lines: list[str], start: int) -> tuple[bytes, int]:
    """The data of the block whose begin line is lines[start], and the index of its end line.
    _Malformed(reason) with `args[1]` the index of the first line that does not fit."""
    data = bytearray()
    at = start + 1
    while at < len(lines):
        line = lines[at].rstrip("\r")
        if line == "end":
            return bytes(data), at
        if not line and at == len(lines) - 1:
            break  # what follows the text's last line break is no line
        if line in ("", "`", " "):
            # The zero-length line: `end` must follow.
            if at + 1 < len(lines) and lines[at + 1].rstrip("\r") == "end":
                return bytes(data), at + 1
            raise _Malformed("no end line after the last data line", at + 1)
        try:
            data += _data_line(line)
        except _Malformed as exc:
            raise _Malformed(exc.args[0], at) from None
        at += 1
    raise _Malformed("no end line", at)


def extract_uu(text: str) -> tuple[str, list[UuFile], list[str]]:
    """`text` ("\\n" line ends) without its well-formed uuencoded blocks, the files they hold
    (name as on the begin line) and notes on the blocks left in the text."""
    if _ANY_BEGIN.search(text) is None:
        return text, [], []
    lines = text.split("\n")
    kept: list[str] = []
    files: list[UuFile] = []
    notes: list[str] = []
    malformed = 0
    at = 0
    while at < len(lines):
        begin = _BEGIN.match(lines[at].rstrip("\r"))
        if begin is None:
            kept.append(lines[at])
            at += 1
            continue
        name = begin.group(1)
        try:
            data, end = _block(lines, at)
        except _Malformed as exc:
            reason, resume = exc.args
            malformed += 1
            if malformed <= _NOTED:
                notes.append(
                    f"uuencoded block {name[:_NAME_SHOWN]!r} malformed ({reason}), kept in the text"
                )
            # Lines up to the one that did not fit stay text; scanning goes on from that one
            # (it may begin the next block), so every line is looked at a bounded number of times.
            kept.extend(lines[at:resume])
            at = resume
            continue
        files.append(UuFile(name, data))
        at = end + 1
    if malformed > _NOTED:
        notes.append(f"{malformed - _NOTED} more malformed uuencoded blocks kept in the text")
    return "\n".join(kept), files, notes
