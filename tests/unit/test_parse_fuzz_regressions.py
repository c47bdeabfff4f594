"""What the MIME fuzzer (tests/fuzz/test_mime_parser.py) found: the stdlib's header parsers
took memory out of all proportion to the message. Each number in a comment is what the parser
took before the fix, on this machine (tracemalloc's peak)."""

import tracemalloc
from email.headerregistry import AddressHeader, UnstructuredHeader
from typing import Any

import pytest

from inlet.document import Document
from inlet.parsing import parse_message
from inlet.parsing.headers import decode_unstructured, parse_addresses
from tests.builders import make_envelope
from tests.corpus import Recorder
from tests.corpus.harness import PARSED_AT

pytestmark = pytest.mark.unit

MiB = 1 << 20


def traced_parse(raw: bytes) -> tuple[Document, int]:
    envelope = make_envelope()
    tracemalloc.start()
    try:
        document = parse_message(
            iter([raw]), envelope, save_attachment=Recorder(envelope.id), parsed_at=PARSED_AT
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return document, peak


def message(*headers: bytes, body: bytes = b"body\r\n") -> bytes:
    return b"From: a@example.org\r\n" + b"".join(h + b"\r\n" for h in headers) + b"\r\n" + body


def test_a_subject_of_thousands_of_encoded_words_is_decoded_in_bounded_memory() -> None:
    # 2500 encoded words, 55 KB: 73 MB, each word keeping the rest of the value.
    subject = b" ".join([b"=?utf-8?q?caf=C3=A9?="] * 2500)
    document, peak = traced_parse(message(b"Subject: " + subject))
    assert document["subject"] == "café" * 2500  # no white space between encoded words
    assert peak < 4 * MiB


def test_a_long_list_of_encoded_names_is_read_whole_in_bounded_memory() -> None:
    # 1200 entries, 53 KB: 50 MB.
    to = b", ".join(b"=?utf-8?q?N=C3=A9_%d?= <u%d@example.com>" % (n, n) for n in range(1200))
    document, peak = traced_parse(message(b"To: " + to))
    assert document["to"] == [
        {"name": f"Né {n}", "address": f"u{n}@example.com"} for n in range(1200)
    ]
    assert peak < 8 * MiB


def test_an_address_entry_longer_than_a_piece_is_not_parsed() -> None:
    # One entry of 30000 words, 60 KB: 196 MB and 10 s in the stdlib's address parser.
    document, peak = traced_parse(message(b"To: " + b"a " * 30000))
    assert document["to"] == []
    assert "header To: entry not read, longer than 2048 characters" in document["defects"]
    assert peak < 4 * MiB


def test_many_parts_with_long_content_types_keep_no_parse_trees() -> None:
    # 200 parts, each a Content-Type of 400 parameters (411 KB in all): 412 MB and 22 s, the
    # memo keeping every header's parse tree (about 1 KB per character).
    parts = b"".join(
        b"--x\r\nContent-Type: application/x-%d; charset=utf-8" % n + b"; a=b" * 400
        + b"\r\n\r\nx\r\n"
        for n in range(200)
    )  # fmt: skip
    raw = message(b"Content-Type: multipart/mixed; boundary=x", body=parts + b"--x--\r\n")
    document, peak = traced_parse(raw)
    types = [attachment["content_type"] for attachment in document["attachments"]]
    assert types == [f"application/x-{n}" for n in range(200)]
    assert peak < 4 * len(raw) + 4 * MiB


def test_mime_headers_past_the_parse_limit_are_read_as_text() -> None:
    # 10 KB of parameters after those that matter: not given to the structured parser, yet
    # the boundary, the filename and the disposition are read as before.
    padding = b"; x=y" * 2000
    body = (
        b"--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
        b"--b\r\nContent-Type: application/pdf; name=x.pdf" + padding + b"\r\n"
        b'Content-Disposition: attachment; filename="report.pdf"' + padding + b"\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\nJVBERg==\r\n--b--\r\n"
    )
    raw = message(b'Content-Type: multipart/mixed; boundary="b"' + padding, body=body)
    document, _ = traced_parse(raw)
    assert document["text"] == "hello"
    (attachment,) = document["attachments"]
    assert (attachment["filename"], attachment["disposition"]) == ("report.pdf", "attachment")
    assert (attachment["content_type"], attachment["size"]) == ("application/pdf", 4)


def stdlib_unstructured(value: str) -> str:
    kwds: dict[str, Any] = {"defects": []}
    UnstructuredHeader.parse(value, kwds)
    return str(kwds["decoded"])


def stdlib_addresses(value: str) -> list[tuple[str, str]]:
    kwds: dict[str, Any] = {"defects": []}
    AddressHeader.parse(value, kwds)
    return [(a.display_name, a.addr_spec) for g in kwds["groups"] for a in g.addresses]


def test_a_long_well_formed_value_in_pieces_reads_as_it_would_whole() -> None:
    words = [
        "=?utf-8?q?caf=C3=A9?=",
        "plain",
        "=?iso-8859-1?b?4Q==?=",
        "=?x-unknown?q?z?=",
        "=?utf-8?q?bad",
        "\t=?utf-8?b?w6k=?=",
    ]
    value = " ".join(words[n % len(words)] for n in range(700))
    assert len(value) > 4 * 2048
    assert decode_unstructured(value) == stdlib_unstructured(value)

    entries = [
        "=?utf-8?q?N=C3=A9?= <a@example.org>",
        '"Doe, John" <john@example.org>',
        "b@example.org (a comment, with a comma)",
        "team: c@example.org, d@example.org;",
        "<@relay.example,@other.example:e@example.org>",
        "f@[192.0.2.1]",
    ]
    value = ", ".join(entries[n % len(entries)] for n in range(300))
    assert len(value) > 4 * 2048
    found, notes = parse_addresses(value)
    assert [(a["name"], a["address"]) for a in found] == stdlib_addresses(value)
    assert not any(note.startswith(("entry not read", "unparseable")) for note in notes)


def test_an_embedded_multipart_with_an_empty_boundary_is_kept_as_received() -> None:
    # boundary="" (the parser splits at bare "--" lines): the stdlib's generator took the empty
    # boundary for none and made up a random one, so the attachment differed on every parse.
    embedded = (
        b'Subject: s\r\nContent-Type: multipart/mixed; boundary=""\r\n\r\n'
        b"--\r\n\r\none\r\n--\r\n\r\ntwo\r\n----\r\n"
    )
    raw = message(b"Content-Type: message/rfc822", body=embedded)
    saved = []
    for _ in range(2):
        envelope = make_envelope()
        recorder = Recorder(envelope.id)
        parse_message(iter([raw]), envelope, save_attachment=recorder, parsed_at=PARSED_AT)
        saved.append(recorder.calls)
    assert saved[0] == saved[1]
    ((_, data, content_type),) = saved[0]
    assert (data, content_type) == (embedded, "message/rfc822")
