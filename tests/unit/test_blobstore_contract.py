"""One contract, every adapter: local mode and AWS cannot drift apart."""

import gc
import hashlib

import pytest

from inlet.blobstore import BlobStore
from inlet.errors import NotFoundError

pytestmark = pytest.mark.unit


def test_put_get_head_with_metadata(store: BlobStore) -> None:
    store.put("raw/2026/01/01/a.eml", b"hello\r\n", metadata={"inlet-id": "a"})
    blob = store.get("raw/2026/01/01/a.eml")
    assert blob.data == b"hello\r\n"
    assert blob.metadata == {"inlet-id": "a"}
    assert store.head("raw/2026/01/01/a.eml") == {"inlet-id": "a"}


def test_put_accepts_bytearray_and_a_correct_digest(store: BlobStore) -> None:
    data = bytearray(b"\x00\xff" * 1000)
    store.put("k/b", data, sha256=hashlib.sha256(data).digest())
    assert store.get("k/b").data == bytes(data)


def test_missing_objects(store: BlobStore) -> None:
    with pytest.raises(NotFoundError):
        store.get("raw/none")
    with pytest.raises(NotFoundError):
        store.head("raw/none")
    store.delete("raw/none")  # deleting what is not there is fine


def test_overwrite_and_delete(store: BlobStore) -> None:
    store.put("p/x", b"1")
    store.put("p/x", b"22")
    assert store.get("p/x").data == b"22"
    store.delete("p/x")
    with pytest.raises(NotFoundError):
        store.get("p/x")


def test_list_by_prefix_in_order(store: BlobStore) -> None:
    for key in ["raw/2026/01/02/b.eml", "raw/2026/01/01/a.eml", "envelope/2026/01/01/a.json"]:
        store.put(key, b"x", metadata={"m": "v"})
    assert list(store.list("raw/")) == ["raw/2026/01/01/a.eml", "raw/2026/01/02/b.eml"]
    assert list(store.list("raw/2026/01/01")) == ["raw/2026/01/01/a.eml"]
    assert list(store.list("env")) == ["envelope/2026/01/01/a.json"]
    assert list(store.list("nothing/")) == []


def test_streamed_upload_is_invisible_until_complete(store: BlobStore) -> None:
    upload = store.begin("raw/s.eml", metadata={"inlet-id": "s"})
    upload.write(b"part one, ")
    upload.write(bytearray(b"part two"))
    assert list(store.list("raw/")) == []
    upload.complete()
    assert store.get("raw/s.eml").data == b"part one, part two"
    assert store.head("raw/s.eml") == {"inlet-id": "s"}


def test_aborted_upload_leaves_nothing(store: BlobStore) -> None:
    upload = store.begin("raw/gone.eml")
    upload.write(b"x" * 1000)
    upload.abort()
    upload.abort()
    assert list(store.list("")) == []


def test_empty_upload_completes_as_empty_object(store: BlobStore) -> None:
    upload = store.begin("raw/empty.eml")
    upload.complete()
    assert store.get("raw/empty.eml").data == b""
    assert store.max_single_put >= store.write_size > 0


def test_read_chunks_streams_the_object(store: BlobStore) -> None:
    data = bytes(range(256)) * 1000
    store.put("raw/big.eml", data, metadata={"inlet-id": "big"})
    stream = store.read_chunks("raw/big.eml", chunk_size=10_000)
    assert stream.metadata == {"inlet-id": "big"}
    chunks = list(stream)
    assert b"".join(chunks) == data
    assert max(len(c) for c in chunks) <= 10_000
    assert len(chunks) >= 26
    store.put("raw/empty.eml", b"")
    assert b"".join(store.read_chunks("raw/empty.eml")) == b""
    with pytest.raises(NotFoundError):
        store.read_chunks("raw/none.eml")  # raised by the call itself, before any iteration


def test_a_read_given_up_before_its_end_releases_what_it_holds(store: BlobStore) -> None:
    store.put("raw/x", b"abc" * 100_000)
    for _ in range(3):  # an unclosed file or body would be an unraisable ResourceWarning
        stream = store.read_chunks("raw/x", chunk_size=1024)
        stream.close()
    stream = store.read_chunks("raw/x", chunk_size=1024)
    assert next(iter(stream)) == (b"abc" * 342)[:1024]
    stream.close()
    gc.collect()
