"""`inlet up`'s pipeline on the embedded adapters: processing, catch-up, retention, restarts."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from inlet import keys
from inlet.blobstore import BlobStore, StorageError
from inlet.blobstore.filesystem import FilesystemBlobStore
from inlet.cli.local_runner import LocalRunner
from inlet.index.sqlite import SqliteIndex
from inlet.message_store import MessageStore
from inlet.pipeline import no_verdicts, parse_stored
from inlet.retention_policy import RetentionPolicy
from tests.stored import store_message

pytestmark = pytest.mark.unit

MESSAGE = (
    b"From: Alice <alice@example.org>\r\nTo: bob@example.com\r\nSubject: hi\r\n"
    b"Message-ID: <local-1@example.org>\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
    b"--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
    b"--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; "
    b'filename="a.bin"\r\n\r\nabc\r\n--b--\r\n'
)
NOW = datetime.now(UTC)


def pipeline(data: Path, days: int = 30, **overrides: int) -> LocalRunner:
    return LocalRunner(
        MessageStore(FilesystemBlobStore(data)),
        SqliteIndex(data / "index.sqlite3"),
        RetentionPolicy(days, overrides),
        verdicts=no_verdicts,
    )


def test_stored_messages_become_searchable(tmp_path: Path) -> None:
    p = pipeline(tmp_path)
    envelope = store_message(p.messages.blobs, MESSAGE)
    p.on_stored(envelope)
    p.close()
    p.index.close()
    reopened = SqliteIndex(tmp_path / "index.sqlite3")  # survives a restart
    try:
        assert [e.id for e in reopened.search("to", "bob@example.com").entries] == [envelope.id]
        assert [e.id for e in reopened.search("from", "alice@EXAMPLE.org").entries] == [envelope.id]
    finally:
        reopened.close()


def test_catch_up_processes_what_was_stored_but_not_processed(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path)
    unparsed = store_message(store, MESSAGE)  # stored, then the process died
    parsed_only = store_message(store, MESSAGE)
    first = pipeline(tmp_path)
    document = MessageStore(store).load_document(parsed_only.id)
    assert document is None
    parse_stored(
        MessageStore(store), parsed_only.id, now=NOW, verdicts=no_verdicts
    )  # parsed, not yet indexed
    first.index.close()
    second = pipeline(tmp_path)
    try:
        assert second.start().result(timeout=30) == 2
        assert {e.id for e in second.index.search("to", "bob@example.com").entries} == {
            unparsed.id,
            parsed_only.id,
        }
        assert second.catch_up() == 0  # nothing left
    finally:
        second.close()
        second.index.close()


class FailingPuts:
    """A blob store whose puts under one prefix fail, as a full disk would."""

    def __init__(self, inner: BlobStore, prefix: str) -> None:
        self.inner = inner
        self.prefix = prefix

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def put(self, key: str, data: bytes, **kwargs: object) -> None:
        if key.startswith(self.prefix):
            raise StorageError("disk full (injected)")
        self.inner.put(key, data, **kwargs)  # type: ignore[arg-type]


def test_a_failed_step_leaves_the_message_for_the_next_catch_up(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path)
    index = SqliteIndex(tmp_path / "index.sqlite3")
    broken = LocalRunner(
        MessageStore(FailingPuts(store, keys.PARSED_PREFIX)),
        index,
        RetentionPolicy(30),
        verdicts=no_verdicts,
    )  # type: ignore[arg-type]
    envelope = store_message(store, MESSAGE)
    broken.on_stored(envelope)
    broken.close()
    assert index.get(envelope.id) is None
    assert store.get(keys.raw_key(envelope.id)).data.endswith(b"--b--\r\n")  # nothing lost
    index.close()
    healed = pipeline(tmp_path)
    try:
        assert healed.catch_up() == 1
        entry = healed.index.get(envelope.id)
        assert entry is not None
        assert entry.status == "parsed"
    finally:
        healed.close()
        healed.index.close()


def test_retention_removes_expired_and_keeps_held(tmp_path: Path) -> None:
    p = pipeline(tmp_path, days=30, **{"tmp.example.com": 7, "legal.example.com": 3650})
    try:
        old = NOW - timedelta(days=40)
        expired = store_message(p.messages.blobs, MESSAGE, at=old)
        held = store_message(p.messages.blobs, MESSAGE, at=old)
        legal = store_message(p.messages.blobs, MESSAGE, at=old, rcpt_to=["x@legal.example.com"])
        temp = store_message(
            p.messages.blobs, MESSAGE, at=NOW - timedelta(days=8), rcpt_to=["t@tmp.example.com"]
        )
        many = store_message(  # its envelope is a separate object
            p.messages.blobs, MESSAGE, at=old, rcpt_to=[f"r{i}@example.com" for i in range(90)]
        )
        fresh = store_message(p.messages.blobs, MESSAGE)
        assert p.catch_up() == 6
        p.index.hold(held.id)
        dry = p.retention(dry_run=True)
        assert sorted(dry.expired_ids) == sorted([expired.id, temp.id, many.id])
        assert dry.held == 1
        assert p.index.get(expired.id) is not None
        report = p.retention()
        assert (report.expired, report.held, report.failed) == (3, 1, 0)
        for gone in (expired, temp, many):
            assert p.index.get(gone.id) is None
            assert not [k for k in p.messages.blobs.list("") if gone.id in k]
        for kept in (held, legal, fresh):
            assert p.index.get(kept.id) is not None
            assert p.messages.load_document(kept.id) is not None
        p.index.release(held.id)
        assert p.retention().expired_ids == [held.id]
    finally:
        p.close()
        p.index.close()


def test_retention_rerun_finishes_a_partial_removal(tmp_path: Path) -> None:
    p = pipeline(tmp_path, days=1)
    try:
        envelope = store_message(
            p.messages.blobs,
            MESSAGE,
            at=NOW - timedelta(days=2),
            rcpt_to=[f"r{i}@example.com" for i in range(90)],
        )
        p.catch_up()
        # A run that stopped after removing the raw object: only the envelope is left.
        for key in [
            k
            for k in p.messages.blobs.list("")
            if envelope.id in k and not k.startswith("envelope/")
        ]:
            p.messages.blobs.delete(key)
        p.index.delete(envelope.id)
        assert [k for k in p.messages.blobs.list("") if envelope.id in k] == [
            keys.envelope_key(envelope.id)
        ]
        assert p.retention().expired_ids == [envelope.id]
        assert [k for k in p.messages.blobs.list("") if envelope.id in k] == []
    finally:
        p.close()
        p.index.close()
