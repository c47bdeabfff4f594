"""The DATA phase as a stream: finds the end-of-data marker and undoes dot-stuffing
(RFC 5321 §4.5.2) over chunks of any size, without ever holding more than one chunk."""

TERMINATOR = b"\r\n.\r\n"
_STUFFED = b"\r\n."
# Longest tail that may be the start of TERMINATOR; kept back until the next chunk decides it.
_HOLD = len(TERMINATOR) - 1


class DataScanner:
    """Feed raw wire bytes; get message content back, unstuffed, in order.

    The CRLF that ended the DATA command line is modelled as a virtual prefix, so a first
    line that starts with a dot, or an empty message (".\\r\\n"), needs no special case.
    """

    def __init__(self) -> None:
        self._carry = b"\r\n"
        self._virtual = 2
        self.done = False

    def feed(self, chunk: bytes) -> tuple[bytes | memoryview, bytes | None]:
        """Content decoded from `chunk`, and the bytes after the end marker once it is seen
        (pipelined commands that belong to the SMTP session again), else None. The content is
        a view (no copy) when there was no dot-stuffing to undo; use it before the next feed."""
        if self.done:
            raise RuntimeError("DATA already ended")
        data = self._carry + chunk
        # One search answers both questions in the common case: the end marker starts with a
        # CRLF-dot, so a chunk without one has neither stuffing nor the end in it.
        first = data.find(_STUFFED)
        end = data.find(TERMINATOR, first) if first >= 0 else -1
        leftover: bytes | None
        if end >= 0:
            cut, leftover = end + 2, data[end + len(TERMINATOR) :]
            self._carry = b""
            self.done = True
        else:
            cut = len(data) - _HOLD if first < 0 else _safe_cut(data, len(data) - _HOLD)
            cut = max(cut, 0)
            self._carry, leftover = data[cut:], None
        unstuff = 0 <= first < cut
        body = data[:cut].replace(_STUFFED, b"\r\n") if unstuff else memoryview(data)[:cut]
        if self._virtual and body:
            strip = min(self._virtual, len(body))
            body = body[strip:]
            self._virtual -= strip
        return body, leftover


def _safe_cut(data: bytes, cut: int) -> int:
    """Move `cut` back so that it does not split a CRLF-dot sequence."""
    if cut <= 0:
        return 0
    for back in (2, 1):
        start = cut - back
        if start >= 0 and data[start : start + 3] == _STUFFED:
            return start
    return cut
