"""MIME made by hypothesis, fed to the parser's entry point (inlet.parsing.parse_message).

Messages are trees of parts: nested multiparts with random boundaries (quoted, long, empty,
never appearing, never closed), embedded messages, leaves with every transfer encoding (clean,
truncated and broken base64 and quoted-printable, uuencode, unknown ones), headers with encoded
words, RFC 2231 parameters and charsets that do not exist or are no charsets, filenames that try
to escape; plus deep nesting, thousands of headers, binary garbage, LF or mixed line ends, and
the result cut short or spliced with garbage. Asserted for every message:
- nothing escapes parse_message but ParseError, the parser's own error;
- a parsed document is JSON (UTF-8, no lone surrogate), valid against the schema, its
  attachments numbered in order with safe filenames and media types, each handed over with its
  digest; and the same document comes out whatever the chunks the bytes arrive in;
- memory: tracemalloc's peak during the parse stays under MEMORY_FACTOR times the message plus
  MEMORY_CONSTANT (a parsed tree is a few times its text; quadratic growth is not);
- time: one parse takes at most PARSE_SECONDS + PARSE_SECONDS_PER_KB a KB (linear: the header
  budgets keep hostile input from growing faster).
"""

import base64
import binascii
import json
import quopri
import re
import time
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from inlet.parsing import ParseError, parse_message
from inlet.parsing.filenames import MAX_FILENAME_BYTES
from tests.builders import make_envelope
from tests.corpus import Recorder, assert_valid
from tests.corpus.harness import PARSED_AT
from tests.fuzz.bounds import WallClock, bounds, fuzz_settings

pytestmark = pytest.mark.unit

LIMITS = bounds(examples=800, seconds=15)
# One parse may take PARSE_SECONDS plus PARSE_SECONDS_PER_KB for each KB of the message: the
# header budgets allow ~20 us a character of address text and ~55 us of MIME parameters (about
# 12 s for a message that spends them all), so this is linear with room for a loaded machine;
# what grows faster than linearly is caught.
PARSE_SECONDS = 2.0
PARSE_SECONDS_PER_KB = 0.05
# A parsed tree is a few times its text (bodies 3-7x); on top of that, constants: the stdlib's
# header parsers take up to ~7 MB for the largest piece inlet.parsing.headers hands them
# (2 KB of an address list at ~3 KB a character), a nesting level ~5 KB.
MEMORY_FACTOR = 12
MEMORY_CONSTANT = 8 << 20
MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*\Z")


# -- building blocks ---------------------------------------------------------------------


def choice(*groups: list[bytes]) -> st.SearchStrategy[bytes]:
    return st.sampled_from([one for group in groups for one in group])


def no_eol(data: bytes) -> bytes:
    return data.replace(b"\r", b"").replace(b"\n", b"")


junk = st.binary(max_size=40).map(no_eol)
words = st.text(max_size=30).map(lambda t: t.encode("utf-8", "surrogatepass"))
CHARSETS = [
    b"utf-8",
    b"UTF-8",
    b"us-ascii",
    b"iso-8859-1",
    b"windows-1252",
    b"iso-2022-jp",
    b"shift_jis",
    b"gb2312",
    b"koi8-r",
    b"utf-7",
    b"utf-16",
    b"utf-32-be",
    b"x-unknown",
    b"",
    b"rot13",
    b"base64",
    b"unicode-escape",
    b"idna",
    b'"utf-8"',
    b"utf-8*en",
    b"\xff",
]
charset = st.one_of(st.sampled_from(CHARSETS), junk)


@st.composite
def encoded_word(draw: st.DrawFn) -> bytes:
    text = draw(st.text(max_size=20))
    name = draw(charset)
    kind = draw(st.sampled_from([b"q", b"Q", b"b", b"B", b"x", b""]))
    try:
        data = text.encode(name.decode("ascii").strip('"'))
    except (LookupError, UnicodeError, ValueError, TypeError):
        data = text.encode("utf-8", "surrogatepass")
    if kind in (b"b", b"B"):
        payload = base64.b64encode(data)
        payload = draw(st.sampled_from([payload, payload[:-1], payload + b"!", b"===="]))
    else:
        payload = quopri.encodestring(data, header=True).replace(b"=\n", b"")
        payload = draw(st.sampled_from([payload, payload + b"=", payload + b"=ZZ", b"?"]))
    return b"=?" + name + b"?" + kind + b"?" + payload + b"?="


phrase = st.lists(st.one_of(words, encoded_word(), junk), min_size=1, max_size=4).map(b" ".join)
addr_spec = st.one_of(
    choice(
        [b"a@example.org", b"b@example.com", b"root", b"", b"@", b"a@", b"@b", b"a@b@c"],
        [b'"quoted local"@example.com', b"j\xc3\xb6s\xc3\xa9@ex\xc3\xa4mple.org", b"<>"],
    ),
    st.builds(lambda a, b: a + b"@" + b, junk, junk),
)
mailbox = st.one_of(
    addr_spec,
    st.builds(lambda n, a: n + b" <" + a + b">", phrase, addr_spec),
    st.builds(lambda n, a: b'"' + n + b'" <' + a + b">", junk, addr_spec),
    st.builds(lambda a, c: a + b" (" + c + b")", addr_spec, junk),
    st.sampled_from([b"undisclosed-recipients:;", b"group: a@b, c@d;", b"((((((((((", b"<<<"]),
)
address_list = st.lists(mailbox, min_size=1, max_size=6).map(b", ".join)
date = st.one_of(
    choice(
        [b"Fri, 01 Mar 2024 12:00:00 +0000", b"1 Jan 1970 00:00:00 GMT", b"", b"yesterday"],
        [b"Fri, 01 Mar 99999 12:00:00 +0000", b"Fri, 31 Feb 2024 25:61:61 +9999"],
        [b"Mon, 01 Jan 0001 00:00:00 -2400", b"Tue, 1 Jan 2030 00:00:00"],
    ),
    junk,
)
message_id = st.one_of(
    st.builds(lambda a: b"<" + a + b"@example.org>", junk),
    st.sampled_from([b"<a@b> <c@d>", b"<>", b"< a @ b >", b"no brackets", b"<<<>>>"]),
    junk,
)


@st.composite
def parameter(draw: st.DrawFn, name: bytes) -> bytes:
    """One parameter `name`: plain, quoted, RFC 2231 (charset'lang'%XX, continuations)."""
    value = draw(st.one_of(words, junk, encoded_word()))
    form = draw(st.sampled_from(["plain", "quoted", "2231", "continued", "broken"]))
    if form == "plain":
        return b"; " + name + b"=" + value
    if form == "quoted":
        return b"; " + name + b'="' + value.replace(b'"', b'\\"') + b'"'
    encoded = b"".join(b"%%%02X" % byte for byte in value)
    lang = draw(charset) + b"'" + draw(st.sampled_from([b"", b"en", b"x"])) + b"'"
    if form == "2231":
        return b"; " + name + b"*=" + lang + encoded
    if form == "continued":
        half = len(encoded) // 2
        return b"; %s*0*=%s%s; %s*1*=%s" % (name, lang, encoded[:half], name, encoded[half:])
    return b"; " + name + b"*=" + draw(st.sampled_from([b"%ZZ", b"''", b"'", b"%", lang]))


FILENAMES = [
    b"report.pdf",
    b"../../etc/passwd",
    b"C:\\evil\\run.exe",
    b".hidden",
    b"..",
    b"a" * 300 + b".txt",
    b"\xe2\x80\xaeexe.txt",
    b"con",
    b"\x00\x01.bin",
    b"name.",
    b"=?utf-8?q?caf=C3=A9.txt?=",
]
TYPES = [
    b"text/plain",
    b"text/html",
    b"text/enriched",
    b"application/octet-stream",
    b"image/png",
    b"message/rfc822",
    b"message/delivery-status",
    b"message/global",
    b"application/pdf",
    b"text/pl ain",
    b'"text/html"',
    b"text",
    b"",
    b"/",
    b"multipart/mixed",
    b"TEXT/PLAIN",
    b"x-\xff/\xfe",
]
ENCODINGS = [b"", b"7bit", b"8bit", b"binary", b"base64", b"quoted-printable", b"BASE64"]
ENCODINGS += [b"x-uuencode", b"uuencode", b"x-gzip", b"\xff", b"base64 junk"]


@st.composite
def leaf_body(draw: st.DrawFn, encoding: bytes) -> bytes:
    data = draw(st.one_of(st.binary(max_size=300), words, st.just(b"")))
    kind = encoding.lower()
    if kind == b"base64":
        encoded = base64.encodebytes(data).replace(b"\n", b"\r\n")
        return draw(
            st.sampled_from(
                [
                    encoded,
                    encoded[: len(encoded) // 2],  # truncated
                    encoded[:-3] + b"\r\n",  # padding lost
                    encoded.replace(b"A", b"!"),  # outside the alphabet
                    b"====\r\n" + encoded,
                    encoded + b"\xff\xfe\r\n",
                ]
            )
        )
    if kind == b"quoted-printable":
        encoded = quopri.encodestring(data).replace(b"\n", b"\r\n")
        return draw(
            st.sampled_from(
                [encoded, encoded + b"=", encoded + b"=ZZ\r\n", b"=\r\n=\r\n", encoded + b"\xe9"]
            )
        )
    if kind in (b"x-uuencode", b"uuencode"):
        lines = b"".join(
            binascii.b2a_uu(data[at : at + 45]).replace(b"\n", b"\r\n")
            for at in range(0, len(data), 45)
        )
        body = b"begin 644 f.bin\r\n" + lines + b"`\r\nend\r\n"
        return draw(st.sampled_from([body, body[: len(body) // 2], b"begin\r\n", lines]))
    return data


@dataclass
class Part:
    headers: list[bytes]  # complete header lines, CRLF included
    body: bytes

    def render(self) -> bytes:
        return b"".join(self.headers) + b"\r\n" + self.body


def header(name: bytes, value: bytes) -> bytes:
    return name + b": " + value + b"\r\n"


@st.composite
def leaf(draw: st.DrawFn) -> Part:
    content_type = draw(st.one_of(st.sampled_from(TYPES), junk))
    encoding = draw(st.sampled_from(ENCODINGS))
    headers = []
    if draw(st.booleans()):
        value = content_type
        if draw(st.booleans()):
            value += b"; charset=" + draw(charset)
        if draw(st.booleans()):
            value += draw(parameter(b"name"))
        headers.append(header(b"Content-Type", value))
    if encoding:
        headers.append(header(b"Content-Transfer-Encoding", encoding))
    if draw(st.booleans()):
        disposition = draw(st.sampled_from([b"attachment", b"inline", b"form-data", b"", b"\xff"]))
        filename = draw(
            st.one_of(
                st.sampled_from(FILENAMES).map(lambda f: b'; filename="' + f + b'"'),
                parameter(b"filename"),
            )
        )
        headers.append(header(b"Content-Disposition", disposition + filename))
    if draw(st.booleans()):
        headers.append(header(b"Content-ID", draw(message_id)))
    return Part(headers, draw(leaf_body(encoding)))


BOUNDARY_CHARS = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'()+_,-./:=? "


@st.composite
def multipart(draw: st.DrawFn, children: st.SearchStrategy[Part]) -> Part:
    boundary = draw(
        st.one_of(
            st.text(BOUNDARY_CHARS, min_size=1, max_size=70).map(str.encode),
            st.sampled_from([b"", b" ", b"b" * 200, b"--", b"\xff\xfe", b'a"b']),
        )
    )
    subtype = draw(st.sampled_from([b"mixed", b"alternative", b"related", b"report", b"x-y"]))
    quoted = draw(st.booleans())
    value = b"multipart/" + subtype + b"; boundary=" + (b'"%s"' % boundary if quoted else boundary)
    parts = draw(st.lists(children, max_size=4))
    # Which boundary the body actually uses: the declared one, mostly.
    used = draw(st.sampled_from([boundary, boundary, boundary, b"other", boundary[:-1]]))
    close = draw(st.sampled_from(["close", "close", "open", "twice", "early"]))
    body = draw(st.sampled_from([b"", b"preamble\r\n", b"--not it\r\n"]))
    for number, part in enumerate(parts):
        if close == "early" and number == len(parts) - 1:
            body += b"--" + used + b"--\r\n"
        body += b"--" + used + b"\r\n" + part.render() + b"\r\n"
    if close in ("close", "twice"):
        body += b"--" + used + b"--\r\n" + draw(st.sampled_from([b"", b"epilogue\r\n"]))
    if close == "twice":
        body += b"--" + used + b"--\r\n"
    return Part([header(b"Content-Type", value)], body)


@st.composite
def embedded(draw: st.DrawFn, children: st.SearchStrategy[Part]) -> Part:
    inner = draw(children)
    encoding = draw(st.sampled_from([b"", b"7bit", b"base64", b"quoted-printable"]))
    body = b"Subject: " + draw(phrase) + b"\r\n" + inner.render()
    if encoding == b"base64":
        body = base64.encodebytes(body).replace(b"\n", b"\r\n")
    headers = [
        header(b"Content-Type", draw(st.sampled_from([b"message/rfc822", b"message/global"])))
    ]
    if encoding:
        headers.append(header(b"Content-Transfer-Encoding", encoding))
    return Part(headers, body)


tree = st.recursive(
    leaf(),
    lambda children: st.one_of(multipart(children), embedded(children)),
    max_leaves=10,
)


@st.composite
def top_headers(draw: st.DrawFn) -> list[bytes]:
    fields = [
        (b"From", address_list),
        (b"To", address_list),
        (b"Cc", address_list),
        (b"Reply-To", address_list),
        (b"Sender", mailbox),
        (b"Subject", phrase),
        (b"Date", date),
        (b"Message-ID", message_id),
        (b"In-Reply-To", message_id),
        (b"References", st.lists(message_id, max_size=5).map(b" ".join)),
        (b"MIME-Version", st.sampled_from([b"1.0", b"", b"2.0 (future)"])),
        (st.one_of(junk, st.just(b"X-Header")), junk),
    ]
    chosen = draw(st.lists(st.sampled_from(range(len(fields))), max_size=12))
    lines = []
    for index in chosen:
        name, values = fields[index]
        name_bytes = draw(name) if isinstance(name, st.SearchStrategy) else name
        value = draw(values)
        if draw(st.integers(0, 4)) == 0:  # folded
            value = value.replace(b" ", b"\r\n\t", 1)
        lines.append(header(name_bytes, value))
    if draw(st.integers(0, 8)) == 0:  # many headers, within the budgets
        count = draw(st.integers(100, 3000))
        name = draw(st.sampled_from([b"X-Many", b"To", b"Subject", b"Received"]))
        lines += [header(name, b"u%d@example.com" % n) for n in range(count)]
    if draw(st.integers(0, 8)) == 0:  # one huge value
        unit = draw(st.sampled_from([b"=?utf-8?q?caf=C3=A9?= ", b"a@b.c, ", b"x", b"((("]))
        lines.append(
            header(b"Subject" if b"=?" in unit else b"To", unit * draw(st.integers(1, 20000)))
        )
    if draw(st.integers(0, 8)) == 0:  # the densest structure the header parsers are given
        unit = draw(st.sampled_from([b"a ", b"a.", b'"a" ', b"(a) ", b"<a> ", b"; a=b", b"=?"]))
        name = draw(st.sampled_from([b"To", b"Cc", b"Sender", b"Content-Type"]))
        lines.append(header(name, unit * draw(st.integers(1, 1500))))
    if draw(st.integers(0, 10)) == 0:
        lines.append(
            draw(st.sampled_from([b"no colon here\r\n", b": no name\r\n", b" leading\r\n"]))
        )
    return lines


def deep(depth: int, kind: bytes, close: bool) -> bytes:
    """`depth` levels of multipart (each its own boundary) or of message/rfc822."""
    if kind == b"message":
        return b"Content-Type: message/rfc822\r\n\r\n" * depth + b"\r\nbody\r\n"
    opened = b"".join(
        b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (n, n)
        for n in range(depth)
    )
    closed = b"".join(b"\r\n--b%d--\r\n" % n for n in reversed(range(depth))) if close else b""
    return opened + b"Content-Type: text/plain\r\n\r\nleaf\r\n" + closed


@st.composite
def messages(draw: st.DrawFn) -> bytes:
    shape = draw(st.sampled_from(["tree", "tree", "tree", "tree", "deep", "garbage"]))
    headers = b"".join(draw(top_headers()))
    if shape == "deep":
        # Multipart nesting stops at 200 levels: tracemalloc's cost grows with the square of
        # the depth (400 levels take 2 s traced, 0.2 s not); RecursionError is past ~950.
        kind = draw(st.sampled_from([b"multipart", b"message"]))
        depth = draw(st.integers(2, 200 if kind == b"multipart" else 3000))
        raw = headers + deep(depth, kind, draw(st.booleans()))
    elif shape == "garbage":
        raw = headers + draw(st.binary(max_size=2000))
    else:
        part = draw(tree)
        raw = headers + part.render()
    line_ends = draw(st.sampled_from(["crlf", "crlf", "lf", "mixed", "cr"]))
    if line_ends == "lf":
        raw = raw.replace(b"\r\n", b"\n")
    elif line_ends == "mixed":
        half = len(raw) // 2
        raw = raw[:half] + raw[half:].replace(b"\r\n", b"\n")
    elif line_ends == "cr":
        raw = raw.replace(b"\r\n", b"\r")
    for at, insert in draw(st.lists(st.tuples(st.integers(0, 10**9), junk), max_size=3)):
        at %= len(raw) + 1
        raw = raw[:at] + insert + raw[at:]
    if draw(st.integers(0, 5)) == 0:  # cut short anywhere
        raw = raw[: draw(st.integers(0, len(raw)))]
    return raw


# -- the checks --------------------------------------------------------------------------


MAX_CHUNKS = 2000  # per message: single bytes of a large one would only cost time


def chunked(raw: bytes, sizes: list[int]) -> Iterator[bytes]:
    at = number = 0
    smallest = len(raw) // MAX_CHUNKS
    while at < len(raw):
        size = max(sizes[number % len(sizes)], smallest)
        yield raw[at : at + size]
        at += size
        number += 1


def parse(raw: bytes, pieces: list[bytes]) -> tuple[object, Recorder]:
    envelope = make_envelope()
    recorder = Recorder(envelope.id)
    reason = None
    try:
        document: object = parse_message(
            iter(pieces), envelope, save_attachment=recorder, parsed_at=PARSED_AT
        )
    except ParseError as exc:  # the only exception allowed out: anything else fails the test
        reason, document = str(exc), ParseError
    if reason is not None:
        assert reason.startswith("unreadable message"), reason
    return document, recorder


def check_document(document: dict, recorder: Recorder) -> None:
    text = json.dumps(document, ensure_ascii=False)
    text.encode("utf-8")  # no lone surrogate anywhere
    assert json.loads(text) == document
    assert_valid(document)
    attachments = document["attachments"]
    assert [a["index"] for a in attachments] == list(range(len(attachments)))
    assert [key for key, _, _ in recorder.calls] == [a["key"] for a in attachments]
    for attachment, (_, data, content_type) in zip(attachments, recorder.calls, strict=True):
        assert attachment["size"] == len(data)
        assert attachment["content_type"] == content_type
        assert MEDIA_TYPE.match(content_type), content_type
        name = attachment["filename"]
        assert 0 < len(name.encode()) <= MAX_FILENAME_BYTES, name
        assert not any(bad in name for bad in ("/", "\\", "..")), name
        assert name.strip(".") == name, name
        assert all(ord(c) >= 32 and c != "\x7f" for c in name), name


@dataclass
class Seen:
    """The worst the examples came to, for the summary."""

    seconds: float = 0.0
    peak: int = 0
    largest: int = 0
    parse_errors: int = 0


SEEN = Seen()


def check_message(raw: bytes, sizes: list[int]) -> None:
    pieces = list(chunked(raw, sizes))  # the caller's chunks are not the parser's memory
    started = time.perf_counter()
    whole, whole_saved = parse(raw, [raw])
    seconds = time.perf_counter() - started
    limit = PARSE_SECONDS + PARSE_SECONDS_PER_KB * len(raw) / 1024
    assert seconds <= limit, f"{seconds:.2f} s for {len(raw)} bytes (bound {limit:.1f} s)"
    SEEN.seconds = max(SEEN.seconds, seconds)
    SEEN.largest = max(SEEN.largest, len(raw))
    tracemalloc.start()
    try:
        document, saved = parse(raw, pieces)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    bound = MEMORY_FACTOR * len(raw) + MEMORY_CONSTANT
    assert peak <= bound, f"peak {peak} bytes for a {len(raw)}-byte message (bound {bound})"
    SEEN.peak = max(SEEN.peak, peak)
    # The same bytes in other chunks: the same document, the same attachments.
    assert document == whole
    assert saved.calls == whole_saved.calls
    if document is ParseError:
        SEEN.parse_errors += 1
    else:
        assert isinstance(document, dict)
        check_document(document, saved)


# A failing message is printed whole, however long (and as a @reproduce_failure blob).
@pytest.mark.filterwarnings("ignore:Generating overly large repr")
def test_nothing_escapes_but_parse_error_and_memory_and_time_are_bounded() -> None:
    clock = WallClock(LIMITS.seconds)

    example = st.tuples(messages(), st.lists(st.integers(1, 70000), min_size=1, max_size=5))

    @fuzz_settings(LIMITS, deadline=120)  # a backstop: check_message bounds each parse
    @given(data=st.data())
    def fuzz(data: st.DataObject) -> None:
        clock.run(
            lambda: data.draw(example, label="message and chunk sizes"),
            lambda drawn: check_message(*drawn),
        )

    with clock.capped():
        fuzz()
    print(
        f"MIME fuzz: {clock.summary()}; {SEEN.parse_errors} ParseError, largest "
        f"{SEEN.largest} bytes, slowest parse {SEEN.seconds:.2f} s, peak {SEEN.peak >> 10} KiB"
    )
    assert clock.ran >= min(LIMITS.examples, 10), clock.summary()
