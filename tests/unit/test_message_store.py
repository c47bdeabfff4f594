"""The message store over both blob-store adapters: where each piece of a message lives, the
envelope rule, and what an unreadable envelope becomes."""

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from inlet import keys
from inlet.blobstore import BlobStore, StorageError
from inlet.blobstore.filesystem import FilesystemBlobStore
from inlet.envelope import Envelope
from inlet.ids import mint_id
from inlet.message_store import ENVELOPE_KEY_META, ENVELOPE_META, MessageStore
from inlet.pipeline import no_verdicts, parse_stored
from tests.builders import make_draft
from tests.cli import run_cli
from tests.stored import store_message

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 1, tzinfo=UTC)
WITH_ATTACHMENT = (
    b"From: a@example.org\r\nTo: b@example.com\r\nSubject: s\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
    b"--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n"
    b"--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; "
    b'filename="../r e.bin"\r\n\r\nabc\r\n--b--\r\n'
)


def test_pieces_of_a_parsed_message_are_where_the_layout_says(store: BlobStore) -> None:
    messages = MessageStore(store)
    envelope = store_message(messages, WITH_ATTACHMENT)
    document = parse_stored(messages, envelope.id, now=NOW, verdicts=no_verdicts)
    [attachment] = document["attachments"]
    assert attachment["key"] == f"attachments/{envelope.id}/0-{attachment['filename']}"
    assert "/" not in attachment["filename"]  # sanitised: the key cannot climb out
    assert store.get(attachment["key"]).data == b"abc"
    assert messages.load_document(envelope.id) == document
    day = envelope.received_at[:10].replace("-", "/")
    assert sorted(store.list("")) == sorted(
        [f"raw/{day}/{envelope.id}.eml", f"parsed/{day}/{envelope.id}.json", attachment["key"]]
    )


def test_the_envelope_travels_in_metadata_only_when_it_fits(store: BlobStore) -> None:
    messages = MessageStore(store)
    few = store_message(messages, b"Subject: few\r\n\r\nx\r\n")
    many = store_message(
        messages, b"Subject: many\r\n\r\nx\r\n", rcpt_to=[f"r{i}@example.com" for i in range(90)]
    )
    assert ENVELOPE_META in store.head(keys.raw_key(few.id))
    assert list(store.list(keys.ENVELOPE_PREFIX)) == [keys.envelope_key(many.id)]
    assert store.head(keys.raw_key(many.id))[ENVELOPE_KEY_META] == keys.envelope_key(many.id)
    for envelope in (few, many):
        assert messages.load_envelope(envelope.id) == envelope
        read = messages.read(envelope.id)
        assert read.envelope == envelope
        assert b"".join(read).endswith(b"x\r\n")
    assert list(messages.message_ids()) == sorted([few.id, many.id])


def test_an_envelope_the_store_refuses_to_read_is_quarantined(tmp_path: Path) -> None:
    blobs = FilesystemBlobStore(tmp_path)
    messages = MessageStore(blobs)
    envelope = store_message(messages, b"Subject: s\r\n\r\nx\r\n")
    raw = blobs.get(keys.raw_key(envelope.id)).data
    # Metadata naming a key the filesystem store refuses (reserved) is a permanent fault.
    blobs.put(keys.raw_key(envelope.id), raw, metadata={ENVELOPE_KEY_META: ".tmp/x"})
    document = parse_stored(messages, envelope.id, now=NOW, verdicts=no_verdicts)
    assert document["status"] == "quarantined"
    assert "reserved key" in (document["reason"] or "")
    assert messages.load_quarantine(envelope.id) == document


def test_a_bucket_without_a_table_is_refused_before_anything_is_opened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    ran = run_cli("search", "--to", "b@example.com", "--table", "t", "--data-dir", str(data))
    assert ran.returncode == 2
    assert "must be set together" in ran.stderr
    assert not data.exists()


@pytest.mark.parametrize("recipients", [1, 90], ids=["envelope-in-metadata", "envelope-object"])
def test_aborting_after_the_commit_returned_removes_the_message_whole(
    store: BlobStore, recipients: int
) -> None:
    # The session was cancelled (the client reset) while its commit ran, or the store deadline
    # passed and 451 was sent: no 250 either way, and the sender will try again.
    messages = MessageStore(store)
    incoming = messages.begin(mint_id())
    incoming.write(b"Subject: s\r\n\r\nx\r\n")
    envelope = incoming.commit(
        make_draft(id=incoming.id, rcpt_to=[f"r{i}@example.com" for i in range(recipients)])
    )
    incoming.abort()
    assert not messages.exists(envelope.id)
    assert list(store.list(keys.RAW_PREFIX)) == []
    assert list(store.list(keys.ENVELOPE_PREFIX)) == []


def test_a_failed_commit_keeps_the_envelope_when_the_raw_object_may_exist(tmp_path: Path) -> None:
    # The raw put's answer was lost (it may have been stored) and its removal is refused too:
    # removing the envelope would leave a raw object no one can read.
    class Flaky(FilesystemBlobStore):
        def put(self, key: str, data: bytes | bytearray, **kwargs: Any) -> None:
            super().put(key, data, **kwargs)
            if key.startswith(keys.RAW_PREFIX):
                raise StorageError("answer lost")

        def delete(self, key: str) -> None:
            if key.startswith(keys.RAW_PREFIX):
                raise StorageError("refused")
            super().delete(key)

    messages = MessageStore(Flaky(tmp_path))
    incoming = messages.begin(mint_id())
    incoming.write(b"Subject: s\r\n\r\nx\r\n")
    draft = make_draft(id=incoming.id, rcpt_to=[f"r{i}@example.com" for i in range(90)])
    with pytest.raises(StorageError):
        incoming.commit(draft)
    assert messages.load_raw(incoming.id) == b"Subject: s\r\n\r\nx\r\n"
    assert messages.load_envelope(incoming.id).id == incoming.id


def test_an_abort_after_a_failed_commit_retries_the_raw_object_before_the_envelope(
    tmp_path: Path,
) -> None:
    """The relay aborts an attempt again once its deadline passed. Before, that second cleanup
    took only the envelope, leaving the raw object the first cleanup could not remove."""

    class Flaky(FilesystemBlobStore):
        refuse_raw_deletes = 1

        def put(self, key: str, data: bytes | bytearray, **kwargs: Any) -> None:
            super().put(key, data, **kwargs)
            if key.startswith(keys.RAW_PREFIX):
                raise StorageError("answer lost")

        def delete(self, key: str) -> None:
            if key.startswith(keys.RAW_PREFIX) and self.refuse_raw_deletes:
                self.refuse_raw_deletes -= 1
                raise StorageError("refused")
            super().delete(key)

    store = Flaky(tmp_path)
    messages = MessageStore(store)
    incoming = messages.begin(mint_id())
    incoming.write(b"Subject: s\r\n\r\nx\r\n")
    draft = make_draft(id=incoming.id, rcpt_to=[f"r{i}@example.com" for i in range(90)])
    with pytest.raises(StorageError):
        incoming.commit(draft)
    store.refuse_raw_deletes = 1
    incoming.abort()  # the raw object is refused again: the envelope still stays with it
    assert messages.load_envelope(incoming.id).id == incoming.id
    assert messages.load_raw(incoming.id) == b"Subject: s\r\n\r\nx\r\n"
    incoming.abort()  # now the store takes the deletes: nothing is left
    assert list(store.list(keys.RAW_PREFIX)) == []
    assert list(store.list(keys.ENVELOPE_PREFIX)) == []


def test_the_verdicts_get_the_bytes_as_stored_and_a_failing_one_costs_no_document(
    store: BlobStore,
) -> None:
    messages = MessageStore(store)
    envelope = store_message(messages, WITH_ATTACHMENT)
    given: list[bytes] = []

    def verdicts(raw: Sequence[bytes], _: Envelope) -> dict[str, Any]:
        given.append(b"".join(raw))
        return {"header": "relay.test; spf=none"}

    document = parse_stored(messages, envelope.id, now=NOW, verdicts=verdicts)
    assert given == [store.get(keys.raw_key(envelope.id)).data]
    assert document["authentication"] == {"header": "relay.test; spf=none"}

    def raising(raw: Sequence[bytes], _: Envelope) -> None:
        raise RuntimeError("a library bug")

    document = parse_stored(messages, envelope.id, now=NOW, verdicts=raising)
    assert document["status"] == "parsed"
    assert document["authentication"] is None
    assert messages.load_document(envelope.id) == document
