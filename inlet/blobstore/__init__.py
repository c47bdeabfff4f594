"""The blob-store port: where raw messages, envelopes and parsed documents are kept.

Two ways in: `put` stores a small object in one request; `begin` opens a streamed upload with
multipart semantics (S3 multipart upload, or a temporary file) that becomes visible under its key
only on `complete`, and leaves nothing behind on `abort`. Every method may block; async callers
run them in a thread. `begin` itself does no I/O.

Adapters: filesystem (`inlet.blobstore.filesystem`) and S3 (`inlet.blobstore.s3`); one contract
test suite (tests/unit/test_blobstore_contract.py) runs against both.
"""

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from inlet.errors import InletError, TransientError

READ_CHUNK = 64 * 1024


class StorageError(TransientError):
    """The store did not confirm an operation; the caller may retry later."""


@dataclass(frozen=True, slots=True)
class Blob:
    data: bytes
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class BlobStream:
    """An object being read: its metadata (from the same request) and its bytes in chunks."""

    metadata: Mapping[str, str]
    chunks: Iterator[bytes]
    # Releases what the read holds (a file, a connection); reading to the end does it too.
    on_close: Callable[[], None] = lambda: None

    def __iter__(self) -> Iterator[bytes]:
        return self.chunks

    def close(self) -> None:
        """Give up reading: for a reader that stops before the end."""
        self.on_close()


class Upload(Protocol):
    """A streamed upload in progress. Not safe for concurrent use."""

    @property
    def key(self) -> str: ...

    @property
    def buffered(self) -> int:
        """Bytes accepted by `write` and still held in memory (not yet sent or written)."""

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Append bytes. May send them on (S3 parts) or buffer until enough have arrived."""

    def complete(self) -> None:
        """Make the object visible under its key, complete and durable, or raise StorageError."""

    def abort(self) -> None:
        """Discard everything written so far. Safe to call after a failure, and more than once."""


class BlobStore(Protocol):
    @property
    def write_size(self) -> int:
        """How many bytes a streaming caller should gather before each `Upload.write`."""

    @property
    def max_single_put(self) -> int:
        """The largest object a writer should `put` in one request; stream larger ones."""

    def put(
        self,
        key: str,
        data: bytes | bytearray | memoryview,
        *,
        content_type: str = "application/octet-stream",
        metadata: Mapping[str, str] | None = None,
        sha256: bytes | None = None,
    ) -> None:
        """Store `data` under `key` in one request. `sha256`, if given, is the data's digest,
        which an adapter may have the store verify."""

    def begin(
        self,
        key: str,
        *,
        content_type: str = "application/octet-stream",
        metadata: Mapping[str, str] | None = None,
    ) -> Upload: ...

    def get(self, key: str) -> Blob:
        """The whole object with its metadata; NotFoundError if there is none."""

    def read_chunks(self, key: str, chunk_size: int = READ_CHUNK) -> BlobStream:
        """The object's metadata and its bytes as chunks of at most `chunk_size`, so a reader
        need not hold a large object whole nor ask for the metadata separately. NotFoundError
        (raised by this call, not on the first chunk) if there is none; StorageError if reading
        fails part-way."""

    def head(self, key: str) -> Mapping[str, str]:
        """The object's metadata; NotFoundError if there is none."""

    def delete(self, key: str) -> None:
        """Remove the object; a missing object is not an error."""

    def list(self, prefix: str) -> Iterator[str]:
        """Keys starting with `prefix`, in lexicographic order."""


__all__ = ["READ_CHUNK", "Blob", "BlobStore", "BlobStream", "InletError", "StorageError", "Upload"]
