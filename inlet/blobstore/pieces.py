"""A seekable, read-only file over a list of buffers, so a multipart part can be sent from the
buffers it was written in, without joining them into one more copy."""

import io
from collections.abc import Sequence

Buffer = bytes | bytearray | memoryview


class PiecesReader(io.RawIOBase):
    def __init__(self, pieces: Sequence[Buffer]) -> None:
        super().__init__()
        self._views = [memoryview(p).cast("B") for p in pieces]
        self._length = sum(len(v) for v in self._views)
        self._pos = 0
        self._index = 0  # the view that holds self._pos
        self._offset = 0  # self._pos within that view

    def __len__(self) -> int:
        return self._length

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._length}[whence]
        target = min(max(base + offset, 0), self._length)
        self._pos, self._index, self._offset = 0, 0, 0
        self._advance(target)
        return self._pos

    def _advance(self, count: int) -> None:
        self._pos += count
        while self._index < len(self._views):
            view_length = len(self._views[self._index])
            step = min(view_length - self._offset, count)
            self._offset += step
            count -= step
            if self._offset < view_length:
                break
            self._index, self._offset = self._index + 1, 0  # also steps over empty views

    def readinto(self, buffer: Buffer) -> int:  # type: ignore[override]
        target = memoryview(buffer).cast("B")
        written = 0
        while written < len(target) and self._index < len(self._views):
            view = self._views[self._index]
            step = min(len(view) - self._offset, len(target) - written)
            target[written : written + step] = view[self._offset : self._offset + step]
            written += step
            self._advance(step)
        return written

    def close(self) -> None:
        for view in self._views:
            view.release()
        self._views = []
        super().close()
