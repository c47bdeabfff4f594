"""Properties every parse must have, over the whole corpus: repeatable, independent of how the
bytes arrive, JSON-ready, valid against the schema; and the limits (memory, unreadable input)."""

import base64
import hashlib
import json
import os
import tracemalloc
from collections.abc import Iterator

import pytest

from inlet import keys
from inlet.errors import PermanentError, TransientError
from inlet.parsing import ParseError, parse_message
from tests.builders import make_envelope
from tests.corpus import CORPUS, Recorder, assert_valid, parse
from tests.corpus.harness import PARSED_AT, chunked

pytestmark = pytest.mark.unit

NAMES = sorted(CORPUS)


@pytest.mark.parametrize("name", NAMES)
def test_parsing_twice_gives_the_same_document_and_attachments(name: str) -> None:
    first, first_saved = parse(CORPUS[name])
    second, second_saved = parse(CORPUS[name])
    assert first == second
    assert first_saved.calls == second_saved.calls


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("chunk_size", [1, 2, 7, 1000])
def test_chunk_boundaries_do_not_matter(name: str, chunk_size: int) -> None:
    whole, whole_saved = parse(CORPUS[name])
    chunked_document, chunked_saved = parse(CORPUS[name], chunk_size=chunk_size)
    assert chunked_document == whole
    assert chunked_saved.calls == whole_saved.calls


@pytest.mark.parametrize("name", NAMES)
def test_document_is_json_and_valid(name: str) -> None:
    document, recorder = parse(CORPUS[name])
    assert json.loads(json.dumps(document)) == document
    # As the pipeline writes it: UTF-8, so no lone surrogate may be left in any string.
    json.dumps(document, ensure_ascii=False).encode()
    assert_valid(document)
    attachments = document["attachments"]
    assert [a["index"] for a in attachments] == list(range(len(attachments)))
    assert len({a["key"] for a in attachments}) == len(attachments)
    assert [key for key, _, _ in recorder.calls] == [a["key"] for a in attachments]


def test_empty_chunks_are_harmless() -> None:
    raw = CORPUS["nested_mixed"]
    recorder = Recorder()
    pieces = [b"", *chunked(raw, 100), b""]
    document = parse_message(
        iter(pieces), make_envelope(), save_attachment=recorder, parsed_at=PARSED_AT
    )
    assert document == parse(raw)[0]


def test_absurd_nesting_is_a_parse_error() -> None:
    depth = 2000
    raw = b"From: a@example.org\r\n" + b"".join(
        b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i)
        for i in range(depth)
    )
    with pytest.raises(ParseError, match="unreadable message: RecursionError") as caught:
        parse(raw)
    assert isinstance(caught.value, PermanentError)


def test_a_failing_read_is_not_a_parse_error() -> None:
    def chunks() -> Iterator[bytes]:
        yield CORPUS["simple_text"][:100]
        raise TransientError("storage went away")

    with pytest.raises(TransientError):
        parse_message(chunks(), make_envelope(), save_attachment=Recorder(), parsed_at=PARSED_AT)


def big_message(sizes: list[int]) -> tuple[bytes, list[bytes]]:
    contents = [os.urandom(size) for size in sizes]
    parts = [
        b"From: a@example.org\r\nDate: Fri, 01 Mar 2024 12:00:00 +0000\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\n" + b"some text\r\n" * 1000,
    ]
    for number, content in enumerate(contents):
        parts.append(
            b"--b\r\nContent-Type: application/octet-stream\r\n"
            b'Content-Disposition: attachment; filename="f%d.bin"\r\n'
            b"Content-Transfer-Encoding: base64\r\n\r\n"
            % number
            + base64.encodebytes(content).replace(b"\n", b"\r\n")
        )
    parts.append(b"--b--\r\n")
    return b"".join(parts), contents


def test_large_attachments_come_out_exact() -> None:
    raw, contents = big_message([1_000_000, 1_000_001, 1_000_002])
    document, recorder = parse(raw)
    assert [data for _, data, _ in recorder.calls] == contents
    assert [a["sha256"] for a in document["attachments"]] == [
        hashlib.sha256(content).hexdigest() for content in contents
    ]
    assert document["defects"] == []


def test_peak_memory_stays_under_three_times_the_message() -> None:
    raw, _ = big_message([1_500_000, 1_500_000])
    sizes: list[int] = []
    envelope = make_envelope()

    def save(index: int, safe_filename: str, data: bytes, content_type: str, sha256: bytes) -> str:
        sizes.append(len(data))  # a real sink writes and forgets
        return keys.attachment_key(envelope.id, index, safe_filename)

    pieces = list(chunked(raw, 65536))  # the caller's chunks are not the parser's memory
    tracemalloc.start()
    try:
        parse_message(iter(pieces), envelope, save_attachment=save, parsed_at=PARSED_AT)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sizes == [1_500_000, 1_500_000]
    assert peak <= 3 * len(raw), f"peak {peak / len(raw):.2f}x the message"


def test_huge_headers_are_bounded_not_parsed_forever() -> None:
    # The stdlib's header parsers are worse than linear: these took minutes unbounded.
    subject = b" ".join([b"=?utf-8?q?caf=C3=A9?="] * 20000)
    to = b", ".join(b"User %d <u%d@example.com>" % (n, n) for n in range(100_000))
    raw = b"From: a@example.org\r\nSubject: " + subject + b"\r\nTo: " + to + b"\r\n\r\nbody\r\n"
    document, _ = parse(raw)
    assert document["subject"] == subject.decode()  # kept as read
    assert "header Subject: too long, encoded words left as they are" in document["defects"]
    assert 1000 < len(document["to"]) < 100_000
    assert document["to"][0] == {"name": "User 0", "address": "u0@example.com"}
    assert any(d.startswith("header To: too long, only the first") for d in document["defects"])
    assert document["text"] == "body\n"


def test_header_parsing_has_a_budget_per_message() -> None:
    line = b"To: " + b", ".join(b"u%d@example.com" % n for n in range(3000)) + b"\r\n"
    document, _ = parse(b"From: a@example.org\r\n" + line * 20 + b"\r\nbody\r\n")
    assert "header To: not read, too much header text in the message" in document["defects"]
    assert 3000 <= len(document["to"]) < 20 * 3000
