"""Export: the raw messages, bytes as stored, as one mboxrd file or a directory of .eml files,
each with a manifest (`manifest.json`: a JSON list of `{id, key, size, sha256}` of the raw
objects as stored).

Byte fidelity is the point (legal discovery, moving mail elsewhere), so:

- Line endings are kept as stored: a message that arrived with CRLF is written with CRLF.
  Only what mbox itself adds uses LF: the `From ` separator line, the newline given to a
  message that does not end in one, and the blank line after each message.
- mboxrd (https://en.wikipedia.org/wiki/Mbox#Modern_mbox): every line of a message matching
  `^>*From ` gets one more `>`, so a reader removing one `>` from such lines gets the bytes
  back (`unescape_mboxrd`). The separator is `From <MAIL FROM, or MAILER-DAEMON for the null
  reverse-path> <asctime of the receipt, UTC>`.
- The sha256 and size in the manifest are computed from the bytes read, while streaming, and
  compared with the envelope's: a difference is reported (the bytes are still written).

Memory stays bounded whatever the count and size: messages are read in chunks
(`MessageStore.read`) and never joined; the mboxrd quoting carries at most the four letters of
an undecided `From` across a chunk boundary; manifest entries are written as they are made.
Messages come in the order given (the CLI gives search order: newest first). One that vanished
between the listing and its reading (retention) is skipped and reported, not fatal.
"""

import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, TypedDict

from inlet import keys
from inlet.durable import fsync_dir
from inlet.envelope import Envelope
from inlet.errors import ConfigError, InletError, NotFoundError
from inlet.ids import check_id, id_time
from inlet.index import Index, Page, SearchField
from inlet.message_store import MessageStore

MANIFEST = "manifest.json"
PAGE = 1000  # the index's largest page
_MAX_PAGES = 10_000_000  # a bound on the pagination loop, far beyond any real mailbox

_FROM = b"From "
# A line start inside a chunk that is a From line (mboxrd: any number of `>` before it).
_QUOTE = re.compile(rb"\n(>*From )")
# The end of a chunk that may still become a From line once the next chunk comes.
_UNDECIDED = re.compile(rb"(>*)(F(?:r(?:o(?:m)?)?)?)?")
_GTS = re.compile(rb">*")
_UNQUOTE = re.compile(rb"(?m)^>(>*From )")
_FROM_LINE_UNSAFE = re.compile(r"[\x00-\x20\x7f]")


class ManifestEntry(TypedDict):
    id: str
    key: str  # the raw object's key (raw/YYYY/MM/DD/<id>.eml)
    size: int
    sha256: str  # hex, of the bytes as stored


@dataclass(slots=True)
class ExportReport:
    exported: int = 0
    bytes: int = 0  # raw bytes exported (without mbox separators and quoting)
    skipped_ids: list[str] = field(default_factory=list)  # gone before they were read
    failed_ids: list[str] = field(default_factory=list)  # "<id>: why"
    mismatched_ids: list[str] = field(default_factory=list)  # digest or size not the envelope's
    outputs: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed_ids and not self.mismatched_ids

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


class ManifestWriter:
    """A JSON list written one entry at a time (one entry per line), so memory does not grow
    with the count. Incomplete (no closing `]`) until `close`."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._count = 0
        out.write(b"[")

    def add(self, entry: ManifestEntry) -> None:
        line = json.dumps(entry, ensure_ascii=False, separators=(",", ":")).encode()
        self._out.write((b",\n" if self._count else b"\n") + line)
        self._count += 1

    def close(self) -> None:
        self._out.write(b"\n]\n" if self._count else b"]\n")


class FromQuoter:
    """mboxrd quoting of one message fed in chunks: the output is the same however the bytes
    are split. Only the start of a line that may still turn out to be `>*From ` is carried
    over a boundary, as the letters of "From" seen so far (the `>` run goes out at once: it is
    the same bytes either way, and the one `>` quoting adds can go after it)."""

    def __init__(self) -> None:
        self._at_line_start = True  # the next byte (after `_partial`) is still undecided
        self._partial = b""  # a proper prefix of "From " after the line's `>` run
        self._last = b""  # the last input byte, to know if the message ends in a newline

    def feed(self, chunk: bytes) -> list[bytes]:
        parts: list[bytes] = []
        if not chunk:
            return parts
        self._last = chunk[-1:]
        start = 0
        if self._at_line_start:
            start = self._head(chunk, parts)
            if self._at_line_start:
                return parts  # the whole chunk was the undecided start of a line
        rest = chunk[start:] if start else chunk
        newline = rest.rfind(b"\n")
        if newline < 0:
            parts.append(rest)  # all of it within the line already decided
            return parts
        tail = _UNDECIDED.fullmatch(rest, newline + 1)
        if tail is None:
            parts.append(_QUOTE.sub(rb"\n>\1", rest))
            return parts
        parts.append(_QUOTE.sub(rb"\n>\1", rest[: newline + 1]))
        if tail.group(1):
            parts.append(tail.group(1))
        self._at_line_start = True
        self._partial = tail.group(2) or b""
        return parts

    def finish(self) -> list[bytes]:
        """What ends the message: an undecided start of a line as it was, and a newline if the
        message does not end in one."""
        parts = [self._partial] if self._partial else []
        self._partial = b""
        if self._last != b"\n":
            parts.append(b"\n")
        return parts

    def _head(self, chunk: bytes, parts: list[bytes]) -> int:
        """Decide the start of the line that begins the chunk (or began in an earlier one);
        returns where the rest of the chunk starts."""
        at = 0
        if not self._partial:
            at = _GTS.match(chunk).end()  # type: ignore[union-attr]  # `>*` always matches
            if at:
                parts.append(chunk[:at])
            if at == len(chunk):
                return at
        need = _FROM[len(self._partial) :]
        seen = chunk[at : at + len(need)]
        if seen == need:
            parts.append(b">" + self._partial + need)
            self._partial, self._at_line_start = b"", False
            return at + len(need)
        if need.startswith(seen):  # the chunk ended inside "From "
            self._partial += seen
            return len(chunk)
        if self._partial:
            parts.append(self._partial)
        self._partial, self._at_line_start = b"", False
        return at


def quote_mboxrd(data: bytes) -> bytes:
    """The mboxrd quoting of a whole message (for tests and small data; export streams)."""
    return re.sub(rb"(?m)^(>*From )", rb">\1", data)


def unescape_mboxrd(data: bytes) -> bytes:
    """What a mboxrd reader does to a message's lines: one `>` less before `>*From `."""
    return _UNQUOTE.sub(rb"\1", data)


def from_line(envelope: Envelope) -> bytes:
    """The separator: `From <sender> <asctime>`; the sender is MAIL FROM (MAILER-DAEMON for the
    null reverse-path) with spaces and control characters, which would split the line's
    fields, as `_`."""
    sender = _FROM_LINE_UNSAFE.sub("_", envelope.mail_from.strip("<>")) or "MAILER-DAEMON"
    try:
        received = datetime.fromisoformat(envelope.received_at).astimezone(UTC)
    except ValueError:
        received = id_time(envelope.id)
    return f"From {sender} {received.ctime()}\n".encode()


# -- choosing the messages ------------------------------------------------------------------


def search_ids(
    index: Index,
    field_name: SearchField,
    value: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Iterator[str]:
    """Every id the index finds, in its order (newest first), a page of PAGE at a time. The
    first page is asked for now, so a search the index refuses (ConfigError) fails before
    anything is written."""

    def search(cursor: str | None) -> Page:
        return index.search(field_name, value, since=since, until=until, limit=PAGE, cursor=cursor)

    def pages(page: Page) -> Iterator[str]:
        for _ in range(_MAX_PAGES):
            for entry in page.entries:
                yield entry.id
            if page.cursor is None:
                return
            page = search(page.cursor)

    return pages(search(None))


# -- writing --------------------------------------------------------------------------------

# Writes the bytes of one message: (envelope, chunks) → the manifest entry; it raises
# InletError when the store fails part-way (the writer removes what it wrote of the message).
_WriteOne = Callable[[Envelope, Iterator[bytes]], ManifestEntry]


def _export(
    messages: MessageStore,
    ids: Iterable[str],
    manifest: ManifestWriter,
    report: ExportReport,
    write_one: _WriteOne,
) -> None:
    for message_id in ids:
        try:
            raw = messages.read(check_id(message_id))
        except NotFoundError:
            report.skipped_ids.append(message_id)
            continue
        except InletError as exc:
            report.failed_ids.append(f"{message_id}: {exc}")
            continue
        try:
            entry = write_one(raw.envelope, iter(raw))
        except InletError as exc:
            report.failed_ids.append(f"{message_id}: {exc}")
            continue
        manifest.add(entry)
        report.exported += 1
        report.bytes += entry["size"]
        envelope = raw.envelope
        if (entry["sha256"], entry["size"]) != (envelope.sha256, envelope.size):
            report.mismatched_ids.append(
                f"{message_id}: read {entry['size']} bytes, sha256 {entry['sha256']}; the "
                f"envelope says {envelope.size} bytes, sha256 {envelope.sha256}"
            )


def _entry(envelope: Envelope, size: int, digest: "hashlib._Hash") -> ManifestEntry:
    return {
        "id": envelope.id,
        "key": keys.raw_key(envelope.id),
        "size": size,
        "sha256": digest.hexdigest(),
    }


def export_mbox(
    messages: MessageStore, ids: Iterable[str], out: BinaryIO, manifest: ManifestWriter
) -> ExportReport:
    """Write the messages to `out` as mboxrd, their entries to `manifest` (not closed here).
    A message whose reading fails part-way is cut off again when `out` is seekable (else the
    error is raised: the file would hold half a message)."""
    report = ExportReport()

    def write_one(envelope: Envelope, chunks: Iterator[bytes]) -> ManifestEntry:
        start = out.tell() if out.seekable() else None
        digest, size, quoter = hashlib.sha256(), 0, FromQuoter()
        try:
            out.write(from_line(envelope))
            for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
                out.writelines(quoter.feed(chunk))
        except InletError:
            if start is None:
                raise
            out.seek(start)
            out.truncate()
            raise
        out.writelines(quoter.finish())
        out.write(b"\n")
        return _entry(envelope, size, digest)

    _export(messages, ids, manifest, report, write_one)
    return report


def write_mbox(messages: MessageStore, ids: Iterable[str], path: Path) -> ExportReport:
    """`path` as a new mbox file with manifest.json beside it; ConfigError if either exists
    (an export never overwrites one)."""
    manifest_path = path.parent / MANIFEST
    for existing in (path, manifest_path):
        if existing.exists():
            raise ConfigError(f"{existing} exists; an export does not overwrite it")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        out = path.open("xb")
    except FileExistsError:
        raise ConfigError(f"{path} exists; an export does not overwrite it") from None
    with out:
        try:
            listing = manifest_path.open("xb")
        except FileExistsError:
            out.close()
            path.unlink()
            raise ConfigError(f"{manifest_path} exists; an export does not overwrite it") from None
        with listing:
            manifest = ManifestWriter(listing)
            report = export_mbox(messages, ids, out, manifest)
            manifest.close()
            _durable(out, listing)
    report.outputs = [str(path), str(manifest_path)]
    return report


def export_eml(messages: MessageStore, ids: Iterable[str], directory: Path) -> ExportReport:
    """One `<id>.eml` per message in `directory` (new, or empty: else ConfigError), each
    written to a temporary name and renamed once complete, with manifest.json inside."""
    if directory.exists() and not directory.is_dir():
        raise ConfigError(f"{directory} is not a directory")
    directory.mkdir(parents=True, exist_ok=True)
    if any(directory.iterdir()):
        raise ConfigError(f"{directory} is not an empty directory; an export needs a new one")
    report = ExportReport()

    def write_one(envelope: Envelope, chunks: Iterator[bytes]) -> ManifestEntry:
        final = directory / f"{envelope.id}.eml"
        partial = directory / f".{envelope.id}.eml.partial"
        digest, size = hashlib.sha256(), 0
        try:
            with partial.open("wb") as out:
                for chunk in chunks:
                    digest.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
                _durable(out)
            os.replace(partial, final)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        return _entry(envelope, size, digest)

    manifest_path = directory / MANIFEST
    with manifest_path.open("xb") as listing:
        manifest = ManifestWriter(listing)
        _export(messages, ids, manifest, report, write_one)
        manifest.close()
        _durable(listing)
    fsync_dir(directory)
    report.outputs = [str(directory), str(manifest_path)]
    return report


def _durable(*files: BinaryIO) -> None:
    for out in files:
        out.flush()
        os.fsync(out.fileno())


__all__ = [
    "MANIFEST",
    "ExportReport",
    "FromQuoter",
    "ManifestEntry",
    "ManifestWriter",
    "export_eml",
    "export_mbox",
    "from_line",
    "quote_mboxrd",
    "search_ids",
    "unescape_mboxrd",
    "write_mbox",
]
