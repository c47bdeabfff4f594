import io
import random

import pytest

from inlet.blobstore.pieces import PiecesReader

pytestmark = pytest.mark.unit


def test_reads_the_concatenation_in_any_block_size_and_rewinds() -> None:
    rng = random.Random(7)
    pieces = [bytes(rng.randrange(256) for _ in range(rng.randrange(0, 50))) for _ in range(20)]
    pieces.append(bytearray(b"tail"))
    whole = b"".join(pieces)
    reader = PiecesReader(pieces)
    assert len(reader) == len(whole)
    for block in (1, 3, 64, 10_000):
        reader.seek(0)
        out = bytearray()
        while chunk := reader.read(block):
            out += chunk
        assert bytes(out) == whole
        assert reader.tell() == len(whole)


def test_seek_and_tell_as_botocore_uses_them() -> None:
    reader = PiecesReader([b"abc", b"", b"defg"])
    assert reader.seek(0, io.SEEK_END) == 7
    assert reader.seek(2) == 2
    assert reader.read(3) == b"cde"
    assert reader.seek(-1, io.SEEK_CUR) == 4
    assert reader.read() == b"efg"
    assert reader.seek(100) == 7
    assert reader.read(5) == b""
    reader.close()
    assert reader.closed
