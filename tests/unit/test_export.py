"""Export (inlet.export): mboxrd quoting however the bytes are split, mbox and .eml output that
reads back to the bytes as stored, the manifest, and what is skipped or reported."""

import hashlib
import json
import mailbox
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inlet import export, keys
from inlet.blobstore import StorageError
from inlet.blobstore.filesystem import FilesystemBlobStore
from inlet.envelope import Envelope
from inlet.errors import ConfigError
from inlet.export import (
    FromQuoter,
    export_eml,
    from_line,
    quote_mboxrd,
    search_ids,
    unescape_mboxrd,
    write_mbox,
)
from inlet.index.sqlite import SqliteIndex
from inlet.message_store import MessageStore, RawMessage
from inlet.pipeline import no_verdicts, parse_stored
from tests.builders import make_envelope
from tests.stored import store_message

pytestmark = pytest.mark.unit

AT = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
PLAIN = b"From: a@example.org\r\nTo: b@example.com\r\nSubject: one\r\n\r\nhello\r\n"
TRICKY = (
    b"From: a@example.org\r\nTo: b@example.com\r\nSubject: two\r\n\r\n"
    b"From here on\r\n>From quoted once\r\n>>From twice\r\nFromage\r\n From not at start\r\n"
    b"the end without a newline"
)


def quoted(data: bytes, splits: list[int]) -> bytes:
    quoter, out, start = FromQuoter(), [], 0
    for cut in sorted(set(splits)):
        out += quoter.feed(data[start:cut])
        start = cut
    out += quoter.feed(data[start:])
    out += quoter.finish()
    return b"".join(out)


def expected(data: bytes) -> bytes:
    whole = quote_mboxrd(data)
    return whole if whole.endswith(b"\n") else whole + b"\n"


@pytest.mark.parametrize(
    ("data", "want"),
    [
        (b"From x\n", b">From x\n"),
        (b">From x\n", b">>From x\n"),
        (b">>From x\n", b">>>From x\n"),
        (b"a\nFrom x\r\n>From y\r\n", b"a\n>From x\r\n>>From y\r\n"),
        (b"Fromage\n>Fro\n From\n", b"Fromage\n>Fro\n From\n"),
        (b"a\nFrom", b"a\nFrom\n"),  # "From" without its space at the very end
        (b"x\r\n", b"x\r\n"),  # CRLF kept, no newline added
        (b"no newline", b"no newline\n"),
    ],
)
def test_quoting_of_from_lines(data: bytes, want: bytes) -> None:
    assert quoted(data, []) == want
    # Split at every position: the carried start of a line is decided the same way.
    for cut in range(len(data) + 1):
        assert quoted(data, [cut]) == want, cut
    assert quoted(data, list(range(len(data)))) == want  # one byte at a time


@settings(max_examples=300, deadline=None)
@given(
    data=st.lists(st.sampled_from([b">", b"From ", b"Fr", b"om", b" ", b"\n", b"\r\n", b"x"]))
    .map(b"".join)
    .filter(bool),
    splits=st.lists(st.integers(min_value=0, max_value=200), max_size=8),
)
def test_quoting_streamed_is_quoting_whole_and_reverses(data: bytes, splits: list[int]) -> None:
    out = quoted(data, [s for s in splits if s <= len(data)])
    assert out == expected(data)
    assert unescape_mboxrd(quote_mboxrd(data)) == data


def test_from_line_names_the_sender_and_the_receipt_time() -> None:
    envelope = make_envelope(mail_from="", received_at="2026-03-04T05:06:07.123Z")
    assert from_line(envelope) == b"From MAILER-DAEMON Wed Mar  4 05:06:07 2026\n"
    spaced = make_envelope(mail_from='"a b"@example.org', received_at="2026-03-14T05:06:07Z")
    assert from_line(spaced) == b'From "a_b"@example.org Sat Mar 14 05:06:07 2026\n'


@pytest.fixture
def stored(tmp_path: Path) -> tuple[MessageStore, list[Envelope]]:
    messages = MessageStore(FilesystemBlobStore(tmp_path / "data"))
    envelopes = [
        store_message(messages, raw, at=AT + timedelta(minutes=n))
        for n, raw in enumerate([PLAIN, TRICKY, b"", PLAIN * 4000])  # the last > one chunk
    ]
    return messages, envelopes


def mbox_count(path: Path) -> int:
    box = mailbox.mbox(path, create=False)
    try:
        return len(box)
    finally:
        box.close()


def manifest_of(path: Path) -> list[dict[str, Any]]:
    loaded: list[dict[str, Any]] = json.loads(path.read_bytes())
    return loaded


def test_mbox_reads_back_to_the_bytes_as_stored(
    tmp_path: Path, stored: tuple[MessageStore, list[Envelope]]
) -> None:
    messages, envelopes = stored
    out = tmp_path / "out" / "all.mbox"

    report = write_mbox(messages, [e.id for e in envelopes], out)

    assert report.ok
    assert report.exported == 4
    assert report.skipped_ids == []
    assert report.bytes == sum(e.size for e in envelopes)
    assert mbox_count(out) == 4
    text = out.read_bytes()
    # Split at the separators this export wrote; each message unquoted is the stored bytes.
    separators = [from_line(e) for e in envelopes]
    bodies = []
    rest = text
    for n, separator in enumerate(separators):
        assert rest.startswith(separator)
        rest = rest[len(separator) :]
        end = rest.find(b"\n" + separators[n + 1]) + 1 if n + 1 < len(separators) else len(rest)
        bodies.append(rest[:end])
        rest = rest[end:]
    for envelope, body in zip(envelopes, bodies, strict=True):
        raw = messages.load_raw(envelope.id)
        assert body == expected(raw) + b"\n"  # a blank line after each message
        assert unescape_mboxrd(body[: len(body) - 1 - (not raw.endswith(b"\n"))]) == raw
    assert b">>From quoted once\r\n>>>From twice\r\n>From here on" not in text  # order kept
    assert b"\r\n>From here on\r\n>>From quoted once\r\n>>>From twice\r\nFromage\r\n" in text
    assert manifest_of(out.parent / "manifest.json") == [
        {
            "id": e.id,
            "key": keys.raw_key(e.id),
            "size": e.size,
            "sha256": hashlib.sha256(messages.load_raw(e.id)).hexdigest(),
        }
        for e in envelopes
    ]


def test_mbox_and_its_manifest_are_never_overwritten(
    tmp_path: Path, stored: tuple[MessageStore, list[Envelope]]
) -> None:
    messages, envelopes = stored
    out = tmp_path / "all.mbox"
    write_mbox(messages, [envelopes[0].id], out)
    before = out.read_bytes()
    with pytest.raises(ConfigError, match="exists"):
        write_mbox(messages, [envelopes[1].id], out)
    with pytest.raises(ConfigError, match=r"manifest\.json exists"):
        write_mbox(messages, [envelopes[1].id], tmp_path / "other.mbox")
    assert out.read_bytes() == before
    assert not (tmp_path / "other.mbox").exists()


def test_eml_files_are_the_bytes_as_stored(
    tmp_path: Path, stored: tuple[MessageStore, list[Envelope]]
) -> None:
    messages, envelopes = stored
    directory = tmp_path / "eml"

    report = export_eml(messages, [e.id for e in envelopes], directory)

    assert report.ok
    assert report.exported == 4
    assert sorted(p.name for p in directory.iterdir()) == sorted(
        [f"{e.id}.eml" for e in envelopes] + ["manifest.json"]
    )
    for envelope in envelopes:
        assert (directory / f"{envelope.id}.eml").read_bytes() == messages.load_raw(envelope.id)
    for entry in manifest_of(directory / "manifest.json"):
        data = (directory / f"{entry['id']}.eml").read_bytes()
        assert (entry["size"], entry["sha256"]) == (len(data), hashlib.sha256(data).hexdigest())


def test_eml_needs_a_new_or_empty_directory(
    tmp_path: Path, stored: tuple[MessageStore, list[Envelope]]
) -> None:
    messages, envelopes = stored
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("mine")
    with pytest.raises(ConfigError, match="not an empty directory"):
        export_eml(messages, [envelopes[0].id], tmp_path / "full")
    (tmp_path / "empty").mkdir()
    assert export_eml(messages, [envelopes[0].id], tmp_path / "empty").exported == 1


def test_a_message_gone_since_found_is_skipped(
    tmp_path: Path, stored: tuple[MessageStore, list[Envelope]]
) -> None:
    messages, envelopes = stored
    messages.remove(envelopes[1].id)  # retention, between the search and the read

    report = write_mbox(messages, [e.id for e in envelopes], tmp_path / "a.mbox")

    assert report.ok
    assert report.exported == 3
    assert report.skipped_ids == [envelopes[1].id]
    assert mbox_count(tmp_path / "a.mbox") == 3
    assert [e["id"] for e in manifest_of(tmp_path / "manifest.json")] == [
        envelopes[0].id,
        envelopes[2].id,
        envelopes[3].id,
    ]


class BreakingStore(MessageStore):
    """A store whose reading of one message fails after its first chunk."""

    def __init__(self, messages: MessageStore, broken: str) -> None:
        super().__init__(messages.blobs)
        self.broken = broken

    def read(self, message_id: str) -> RawMessage:
        raw = super().read(message_id)
        if message_id != self.broken:
            return raw

        def chunks() -> Iterator[bytes]:
            yield next(raw.chunks)
            raise StorageError("connection reset")

        return RawMessage(raw.envelope, chunks())


def test_a_read_failing_part_way_is_cut_out_and_reported(
    tmp_path: Path, stored: tuple[MessageStore, list[Envelope]]
) -> None:
    messages, envelopes = stored
    breaking = BreakingStore(messages, envelopes[3].id)  # the one of several chunks
    ids = [envelopes[3].id, envelopes[0].id]

    mbox = write_mbox(breaking, ids, tmp_path / "a.mbox")
    eml = export_eml(breaking, ids, tmp_path / "eml")

    for report in (mbox, eml):
        assert not report.ok
        assert report.exported == 1
        assert report.failed_ids == [f"{envelopes[3].id}: connection reset"]
    assert (tmp_path / "a.mbox").read_bytes() == (
        from_line(envelopes[0]) + messages.load_raw(envelopes[0].id) + b"\n"
    )
    assert sorted(p.name for p in (tmp_path / "eml").iterdir()) == [
        f"{envelopes[0].id}.eml",
        "manifest.json",
    ]


def test_bytes_that_differ_from_the_envelope_are_reported(
    tmp_path: Path, stored: tuple[MessageStore, list[Envelope]]
) -> None:
    messages, envelopes = stored
    path = tmp_path / "data" / keys.raw_key(envelopes[0].id)
    path.write_bytes(path.read_bytes().replace(b"hello", b"HELLO"))

    report = export_eml(messages, [envelopes[0].id], tmp_path / "eml")

    assert report.exported == 1
    assert not report.ok
    [mismatch] = report.mismatched_ids
    assert mismatch.startswith(f"{envelopes[0].id}: read ")
    assert envelopes[0].sha256 in mismatch
    [entry] = manifest_of(tmp_path / "eml" / "manifest.json")
    assert entry["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_search_ids_follows_every_page(
    tmp_path: Path, stored: tuple[MessageStore, list[Envelope]], monkeypatch: pytest.MonkeyPatch
) -> None:
    messages, envelopes = stored
    index = SqliteIndex(tmp_path / "index.sqlite3")
    for envelope in envelopes:
        index.put(parse_stored(messages, envelope.id, now=AT, verdicts=no_verdicts))
    monkeypatch.setattr(export, "PAGE", 3)

    found = list(search_ids(index, "to", "b@example.com"))
    ranged = list(search_ids(index, "from", "a@example.org", since=AT + timedelta(minutes=1)))

    # TRICKY and PLAIN have To b@example.com; the empty message only the envelope's rcpt.
    assert found == [envelopes[3].id, envelopes[1].id, envelopes[0].id]
    assert ranged == [envelopes[3].id, envelopes[1].id]
    index.close()


def test_a_search_the_index_refuses_fails_before_anything_is_written(
    tmp_path: Path, stored: tuple[MessageStore, list[Envelope]]
) -> None:
    messages, _ = stored
    index = SqliteIndex(tmp_path / "index.sqlite3")
    with pytest.raises(ConfigError, match="empty to"):
        write_mbox(messages, search_ids(index, "to", "  "), tmp_path / "out" / "a.mbox")
    assert not (tmp_path / "out").exists()
    index.close()
