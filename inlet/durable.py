"""Files that survive a crash: written whole under a temporary name, fsynced, renamed into
place, and the directory fsynced so the rename itself is durable. A reader sees the old file
or the new one, never part of either. Used by the embedded blob store, the webhook outbox and
the exports."""

import os
import tempfile
from pathlib import Path


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def install(tmp: Path, final: Path) -> None:
    """Rename a complete, fsynced file into place and make the rename durable."""
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, final)
    fsync_dir(final.parent)


def write_file(path: Path, data: bytes, *, tmp_dir: Path | None = None, sync: bool = True) -> None:
    """Replace `path` with `data` atomically. The temporary file is made in `tmp_dir` (same
    filesystem as `path`), by default beside `path` as a hidden `.…partial`. `sync=False`
    keeps the atomic rename but skips both fsyncs: for a file whose loss in a crash costs
    nothing but a repeat (a delivered webhook record: at least once anyway)."""
    directory = tmp_dir or path.parent
    directory.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=directory, prefix=".", suffix=".partial")
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            if sync:
                handle.flush()
                os.fsync(handle.fileno())
        if sync:
            install(tmp, path)
        else:
            os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
