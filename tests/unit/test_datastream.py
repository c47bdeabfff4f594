import random

import pytest

from relay.datastream import DataScanner

pytestmark = pytest.mark.unit


def stuff(content: bytes) -> bytes:
    """What an SMTP client puts on the wire for `content` (which ends in CRLF or is empty)."""
    lines = content.split(b"\r\n")
    wire = b"\r\n".join(b"." + line if line.startswith(b".") else line for line in lines)
    return wire + b".\r\n"


def scan(wire: bytes, sizes: list[int]) -> tuple[bytes, bytes]:
    scanner = DataScanner()
    out, pos, leftover = [], 0, None
    for size in sizes:
        if scanner.done or pos >= len(wire):
            break
        content, leftover = scanner.feed(wire[pos : pos + size])
        out.append(content)
        pos += size
    while not scanner.done:
        content, leftover = scanner.feed(wire[pos : pos + 1])
        out.append(content)
        pos += 1
    assert leftover is not None
    return b"".join(out), leftover + wire[pos:]


CASES = [
    b"",
    b"a\r\n",
    b".\r\n",
    b"..\r\n",
    b".hidden\r\n",
    b"line\r\n.\r\nafter a lone dot line\r\n",
    b"Subject: x\r\n\r\n.starts with dot\r\n..two dots\r\nend\r\n",
    b"bare\nlf and bare\rcr\r\n",
    b"8bit \xc3\xa9\xff\x00 bytes\r\n",
    b"x" * 998 + b"\r\n" + b"y" * 5000 + b"\r\n",
    b"\r\n\r\n\r\n",
]


@pytest.mark.parametrize("content", CASES)
def test_whole_chunk(content: bytes) -> None:
    assert scan(stuff(content) + b"QUIT\r\n", [1 << 20]) == (content, b"QUIT\r\n")


@pytest.mark.parametrize("content", CASES)
def test_every_split_point(content: bytes) -> None:
    wire = stuff(content) + b"MAIL FROM:<a@b>\r\n"
    for cut in range(len(wire)):
        assert scan(wire, [cut, len(wire)]) == (content, b"MAIL FROM:<a@b>\r\n"), cut


def test_random_chunking_matches_reference() -> None:
    rng = random.Random(1234)
    alphabet = [b"a", b".", b"\r\n", b"\r", b"\n", b"\r\n.", b"..", b"\xff"]
    for _ in range(300):
        body = b"".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 60)))
        content = body if body.endswith(b"\r\n") or not body else body + b"\r\n"
        wire = stuff(content)
        # The marker must not occur inside the content's own wire form before the end.
        if wire.find(b"\r\n.\r\n") not in (len(wire) - 5, -1) and content:
            continue
        sizes = [rng.randrange(1, 9) for _ in range(len(wire))]
        assert scan(wire, sizes) == (content, b"")


def test_feeding_after_end_is_an_error() -> None:
    scanner = DataScanner()
    scanner.feed(b".\r\n")
    with pytest.raises(RuntimeError):
        scanner.feed(b"x")
