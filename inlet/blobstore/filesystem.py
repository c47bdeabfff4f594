"""The blob store on a local directory: the embedded adapter behind `inlet up`.

An object becomes visible only by an atomic rename of a fully written and fsynced temporary file,
followed by an fsync of its directory; there is never a partial file under a final name.
Metadata, when given, is a JSON sidecar under `.meta/` written before the object itself.
"""

import contextlib
import json
import logging
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import BinaryIO

from inlet.blobstore import READ_CHUNK, Blob, BlobStream, StorageError
from inlet.durable import install, write_file
from inlet.errors import NotFoundError, PermanentError

log = logging.getLogger(__name__)

_TMP = ".tmp"
_META = ".meta"
_RESERVED = (_TMP, _META)


class FilesystemBlobStore:
    def __init__(self, root: Path | str, *, write_size: int = 1 << 20) -> None:
        self.root = Path(root)
        self._write_size = write_size
        (self.root / _TMP).mkdir(parents=True, exist_ok=True)

    @property
    def write_size(self) -> int:
        return self._write_size

    def sweep_partials(self) -> int:
        """Remove every partial file in .tmp/: what a killed process or a failed write left.

        Only for the process that writes here, at its start-up: a partial of a live upload
        would be removed too.
        """
        removed = 0
        for partial in (self.root / _TMP).iterdir():
            try:
                partial.unlink()
                removed += 1
            except FileNotFoundError:
                pass
        return removed

    @property
    def max_single_put(self) -> int:
        return self._write_size

    def _path(self, key: str) -> Path:
        parts = key.split("/")
        if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise PermanentError(f"invalid key: {key!r}")
        if parts[0] in _RESERVED:
            raise PermanentError(f"reserved key: {key!r}")
        return self.root.joinpath(*parts)

    def _meta_path(self, key: str) -> Path:
        self._path(key)
        *dirs, name = key.split("/")
        return self.root.joinpath(_META, *dirs, name + ".json")

    def put(
        self,
        key: str,
        data: bytes | bytearray | memoryview,
        *,
        content_type: str = "application/octet-stream",
        metadata: Mapping[str, str] | None = None,
        sha256: bytes | None = None,
    ) -> None:
        upload = self.begin(key, content_type=content_type, metadata=metadata)
        try:
            upload.write(data)
            upload.complete()
        except BaseException:
            upload.abort()
            raise

    def begin(
        self,
        key: str,
        *,
        content_type: str = "application/octet-stream",
        metadata: Mapping[str, str] | None = None,
    ) -> "FilesystemUpload":
        return FilesystemUpload(self, key, dict(metadata or {}))

    def get(self, key: str) -> Blob:
        try:
            data = self._path(key).read_bytes()
        except FileNotFoundError:
            raise NotFoundError(f"no object {key}") from None
        except OSError as exc:
            raise StorageError(f"cannot read {key}: {exc.strerror}") from exc
        return Blob(data, self._read_meta(key))

    def read_chunks(self, key: str, chunk_size: int = READ_CHUNK) -> BlobStream:
        try:
            handle = self._path(key).open("rb")
        except FileNotFoundError:
            raise NotFoundError(f"no object {key}") from None
        except OSError as exc:
            raise StorageError(f"cannot read {key}: {exc.strerror}") from exc
        try:
            metadata = self._read_meta(key)
        except BaseException:
            handle.close()
            raise
        return BlobStream(metadata, _chunks(handle, key, chunk_size), handle.close)

    def head(self, key: str) -> Mapping[str, str]:
        if not self._path(key).is_file():
            raise NotFoundError(f"no object {key}")
        return self._read_meta(key)

    def _read_meta(self, key: str) -> dict[str, str]:
        try:
            loaded: dict[str, str] = json.loads(self._meta_path(key).read_bytes())
        except FileNotFoundError:
            return {}
        return loaded

    def delete(self, key: str) -> None:
        for path in (self._path(key), self._meta_path(key)):
            try:
                path.unlink()
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise StorageError(f"cannot delete {key}: {exc.strerror}") from exc

    def list(self, prefix: str) -> Iterator[str]:
        keys: list[str] = []
        for dirpath, dirnames, filenames in os.walk(self.root):
            rel = os.path.relpath(dirpath, self.root)
            if rel == ".":
                dirnames[:] = [d for d in dirnames if d not in _RESERVED]
                rel_prefix = ""
            else:
                rel_prefix = rel.replace(os.sep, "/") + "/"
            # Prune directories that cannot hold a matching key.
            dirnames[:] = [
                d
                for d in dirnames
                if (rel_prefix + d + "/").startswith(prefix) or prefix.startswith(rel_prefix + d)
            ]
            keys.extend(k for f in filenames if (k := rel_prefix + f).startswith(prefix))
        yield from sorted(keys)

    def _commit(self, tmp: Path, key: str, metadata: Mapping[str, str]) -> None:
        """Install a fully written, fsynced temporary file as `key`, its metadata first."""
        if metadata:
            self._write_file(self._meta_path(key), json.dumps(dict(metadata)).encode())
        install(tmp, self._path(key))

    def _write_file(self, path: Path, data: bytes) -> None:
        write_file(path, data, tmp_dir=self.root / _TMP)

    def _tmp_file(self) -> tuple[BinaryIO, Path]:
        fd, name = tempfile.mkstemp(dir=self.root / _TMP)
        return os.fdopen(fd, "wb"), Path(name)


class FilesystemUpload:
    def __init__(self, store: FilesystemBlobStore, key: str, metadata: dict[str, str]) -> None:
        store._path(key)  # validate now, before any byte is accepted
        self._store = store
        self._key = key
        self._metadata = metadata
        self._file: BinaryIO | None = None
        self._tmp: Path | None = None

    @property
    def key(self) -> str:
        return self._key

    @property
    def buffered(self) -> int:
        return 0

    def _open(self) -> BinaryIO:
        if self._file is None:
            self._file, self._tmp = self._store._tmp_file()
        return self._file

    def write(self, data: bytes | bytearray | memoryview) -> None:
        try:
            self._open().write(data)
        except OSError as exc:
            raise StorageError(f"cannot write {self._key}: {exc.strerror}") from exc

    def complete(self) -> None:
        try:
            f = self._open()
            f.flush()
            os.fsync(f.fileno())
            f.close()
            assert self._tmp is not None
            self._store._commit(self._tmp, self._key, self._metadata)
        except OSError as exc:
            self.abort()
            raise StorageError(f"cannot store {self._key}: {exc.strerror}") from exc
        self._tmp = None

    def abort(self) -> None:
        """Discard what was written; never raises, since it runs on error paths."""
        file, self._file = self._file, None
        if file is not None:
            # Closing flushes what is still buffered, which fails again on a full disk; the
            # data is being discarded anyway, and the descriptor is closed regardless.
            with contextlib.suppress(OSError):
                file.close()
        tmp, self._tmp = self._tmp, None
        if tmp is not None:
            try:
                tmp.unlink(missing_ok=True)
            except OSError as exc:
                log.warning("cannot remove partial %s: %s", tmp.name, exc.strerror)


def _chunks(handle: BinaryIO, key: str, chunk_size: int) -> Iterator[bytes]:
    with handle:
        while True:
            try:
                chunk = handle.read(chunk_size)
            except OSError as exc:
                raise StorageError(f"cannot read {key}: {exc.strerror}") from exc
            if not chunk:
                return
            yield chunk
