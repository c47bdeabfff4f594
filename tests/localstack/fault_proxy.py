"""A fault-injecting HTTP/1.1 reverse proxy in front of an S3 endpoint (moto, LocalStack), for
tests that need S3 to fail the way a network and a busy service fail.

The proxy listens on 127.0.0.1 only, in its own thread and event loop. Each request from the
client (boto3/botocore, path-style) is read whole: the head, then the body framed by
Content-Length or chunked transfer coding (aws-chunked bodies are framed by one of the two, and
pass through as opaque bytes). `Expect: 100-continue` is answered by the proxy itself, and the
header is not forwarded. The request is then classified into an S3 operation, and a seeded
random plan decides whether it gets a fault:

- ``error500``: answer 500 InternalError, nothing forwarded;
- ``slowdown503``: answer 503 SlowDown, nothing forwarded;
- ``reset_before``: reset the client connection (TCP RST), nothing forwarded;
- ``reset_after``: forward, read the whole upstream answer (the operation happened), then reset
  the client instead of answering;
- ``hang``: answer nothing for ``hang_seconds``, then reset.

Otherwise the request goes upstream verbatim on a fresh connection, and the upstream answer
comes back verbatim (hop-by-hop headers aside, everything is byte-for-byte). Client connections
are kept alive, as botocore expects.

    with FaultProxy(moto_endpoint, seed=7, rate=0.12) as proxy:
        s3 = boto3.client("s3", endpoint_url=proxy.endpoint)
        ...
        proxy.pause()  # no more faults: inspect the state
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Literal, TypedDict, cast, get_args
from urllib.parse import parse_qs, urlsplit

Operation = Literal[
    "CreateMultipartUpload",
    "UploadPart",
    "CompleteMultipartUpload",
    "AbortMultipartUpload",
    "PutObject",
    "GetObject",
    "HeadObject",
    "DeleteObject",
    "ListObjects",
    "Other",
]
Kind = Literal["error500", "slowdown503", "reset_before", "reset_after", "hang"]

OPERATIONS: frozenset[Operation] = frozenset(get_args(Operation))
KINDS: frozenset[Kind] = frozenset(get_args(Kind))
# The operations that change state: the ones whose failures a writer must survive.
WRITE_OPERATIONS: frozenset[Operation] = frozenset(
    {
        "PutObject",
        "CreateMultipartUpload",
        "UploadPart",
        "CompleteMultipartUpload",
        "DeleteObject",
        "AbortMultipartUpload",
    }
)

LISTEN_HOST = "127.0.0.1"
_HEAD_LIMIT = 1 << 20  # a request or response head larger than this is refused
_MAX_BODY = 1 << 30  # bodies are buffered whole: a test proxy has no business with more
_LIST_PARAMS = frozenset(
    {
        "list-type",
        "prefix",
        "delimiter",
        "marker",
        "max-keys",
        "continuation-token",
        "start-after",
        "encoding-type",
        "fetch-owner",
    }
)
_HOP_BY_HOP = frozenset({b"connection", b"keep-alive", b"proxy-connection"})
_STOP_GRACE = 1.0  # seconds stop() waits for the loop's tasks once every socket is aborted


def classify(method: str, target: str) -> Operation:
    """The S3 operation of a path-style request (`/bucket` or `/bucket/key`)."""
    parts = urlsplit(target)
    query = parse_qs(parts.query, keep_blank_values=True)
    segments = parts.path.lstrip("/").split("/", 1)
    on_object = len(segments) == 2 and segments[1] != ""
    on_bucket = not on_object and segments[0] != ""
    method = method.upper()
    if method == "POST":
        if "uploads" in query:
            return "CreateMultipartUpload"
        if "uploadId" in query:
            return "CompleteMultipartUpload"
        return "Other"
    if method == "PUT":
        if "partNumber" in query and "uploadId" in query:
            return "UploadPart"
        if on_object and not query.keys() - {"x-id"}:
            return "PutObject"  # CopyObject too: a PUT that writes a whole object
        return "Other"
    if method == "DELETE":
        if "uploadId" in query:
            return "AbortMultipartUpload"
        if on_object and not query.keys() - {"x-id", "versionId"}:
            return "DeleteObject"
        return "Other"
    if method == "GET":
        if on_object and not query.keys() - {"x-id", "versionId", "partNumber"}:
            return "GetObject"
        if on_bucket and not query.keys() - _LIST_PARAMS:
            return "ListObjects"
        return "Other"
    if method == "HEAD" and on_object:
        return "HeadObject"
    return "Other"


@dataclass(frozen=True)
class Record:
    """One request the proxy read, and what it did with it (kind None: forwarded)."""

    seq: int
    method: str
    target: str
    operation: Operation
    kind: Kind | None
    continued: bool  # the client sent `Expect: 100-continue` and the proxy answered 100


class Stats(TypedDict):
    connections: int  # client connections accepted
    requests: int  # requests read whole
    forwarded: int  # requests sent upstream (reset_after's included)
    faults: int
    by_operation: dict[str, int]  # requests seen, by operation
    by_fault: dict[tuple[str, str], int]  # faults, by (operation, kind)
    hangs_finished: int  # hangs that ran their full hang_seconds


class _BadRequest(Exception):
    pass


@dataclass
class _Head:
    start: bytes  # the request or status line, without CRLF
    lines: list[bytes]  # header lines, without CRLF
    headers: dict[str, str]  # lower-case name → value (repeated ones joined by ", ")

    def tokens(self, name: str) -> list[str]:
        value = self.headers.get(name, "")
        return [t.strip().lower() for t in value.split(",") if t.strip()]

    def encode(self, *, drop: frozenset[bytes] = frozenset()) -> bytes:
        kept = [ln for ln in self.lines if ln.split(b":", 1)[0].strip().lower() not in drop]
        return b"\r\n".join([self.start, *kept]) + b"\r\n\r\n"


async def _read_head(reader: asyncio.StreamReader) -> _Head | None:
    """A message head, or None at a clean end of stream before its first byte."""
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as e:
        if not e.partial.strip():
            return None
        raise _BadRequest("truncated head") from e
    except asyncio.LimitOverrunError as e:
        raise _BadRequest("head too large") from e
    start, *lines = raw[:-4].split(b"\r\n")
    headers: dict[str, str] = {}
    for line in lines:
        name, sep, value = line.partition(b":")
        if not sep or not name or name[:1] in b" \t":
            raise _BadRequest(f"bad header line {line!r}")
        key = name.strip().decode("latin-1").lower()
        text = value.strip().decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    return _Head(start, lines, headers)


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    """A chunked body, framing included (it is forwarded as it came)."""
    parts: list[bytes] = []
    total = 0
    while True:
        line = await reader.readuntil(b"\r\n")
        parts.append(line)
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError as e:
            raise _BadRequest(f"bad chunk size {line!r}") from e
        if size == 0:
            while True:  # trailer fields, up to the empty line
                trailer = await reader.readuntil(b"\r\n")
                parts.append(trailer)
                if trailer == b"\r\n":
                    return b"".join(parts)
                total += len(trailer)
                if total > _MAX_BODY:
                    raise _BadRequest("trailers too large")
        total += size
        if size < 0 or total > _MAX_BODY:
            raise _BadRequest("body too large")
        data = await reader.readexactly(size + 2)
        if data[-2:] != b"\r\n":
            raise _BadRequest("chunk not followed by CRLF")
        parts.append(data)


async def _read_body(reader: asyncio.StreamReader, head: _Head) -> bytes:
    """The body a request or response head announces (chunked wins over Content-Length)."""
    coding = head.tokens("transfer-encoding")
    if coding:
        if coding[-1] != "chunked":
            raise _BadRequest(f"unsupported transfer coding {coding}")
        return await _read_chunked(reader)
    if "content-length" in head.headers:
        try:
            length = int(head.headers["content-length"])
        except ValueError as e:
            raise _BadRequest("bad Content-Length") from e
        if not 0 <= length <= _MAX_BODY:
            raise _BadRequest("bad Content-Length")
        return await reader.readexactly(length)
    return b""


def _s3_error(status: int, reason: str, code: str, message: str, *, close: bool = False) -> bytes:
    request_id = f"{random.getrandbits(64):016X}"
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>"
        f"<RequestId>{request_id}</RequestId><HostId>fault-proxy</HostId></Error>"
    ).encode()
    headers = [
        f"HTTP/1.1 {status} {reason}",
        "Content-Type: application/xml",
        f"Content-Length: {len(body)}",
        f"x-amz-request-id: {request_id}",
        "Server: fault-proxy",
    ]
    if close:
        headers.append("Connection: close")
    return ("\r\n".join(headers) + "\r\n\r\n").encode() + body


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST (SO_LINGER on, zero timeout), not an orderly FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class FaultProxy:
    """A reverse proxy to `upstream` ("http://host:port") on 127.0.0.1:`port` (0: any free
    port) that injects faults into a seeded random share (`rate`) of the requests whose
    operation is in `operations`, each fault's kind drawn uniformly from `kinds`. At most
    `max_faults` faults (None: no cap). Decisions use one `random.Random(seed)`, drawn from only
    for eligible requests while faults are enabled, so the same request sequence meets the same
    faults."""

    def __init__(
        self,
        upstream: str,
        *,
        seed: int = 0,
        rate: float = 0.0,
        operations: Iterable[Operation] = WRITE_OPERATIONS,
        kinds: Iterable[Kind] = KINDS,
        hang_seconds: float = 3.0,
        max_faults: int | None = None,
        port: int = 0,
        upstream_timeout: float = 30.0,
        enabled: bool = True,
    ) -> None:
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname or parts.port is None:
            raise ValueError(f"upstream must be http://host:port, not {upstream!r}")
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate must be in [0, 1], not {rate}")
        self.operations = frozenset(operations)
        self.kinds = tuple(sorted(kinds))  # sorted: the draw must not depend on set order
        if unknown := self.operations - OPERATIONS:
            raise ValueError(f"unknown operations {sorted(unknown)}")
        if unknown_kinds := set(self.kinds) - KINDS:
            raise ValueError(f"unknown fault kinds {sorted(unknown_kinds)}")
        if rate > 0 and not self.kinds:
            raise ValueError("rate > 0 needs at least one fault kind")
        if hang_seconds < 0 or upstream_timeout <= 0:
            raise ValueError("hang_seconds must be >= 0 and upstream_timeout > 0")
        if max_faults is not None and max_faults < 0:
            raise ValueError("max_faults must be >= 0")
        self.upstream = upstream
        self._upstream_host = parts.hostname
        self._upstream_port = parts.port
        self.seed = seed
        self.rate = rate
        self.hang_seconds = hang_seconds
        self.max_faults = max_faults
        self.upstream_timeout = upstream_timeout
        self._requested_port = port
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._enabled = enabled
        self._port: int | None = None
        self._seq = 0
        self._connections = 0
        self._forwarded = 0
        self._hangs_finished = 0
        self._by_operation: Counter[str] = Counter()
        self._by_fault: Counter[tuple[str, str]] = Counter()
        self._history: list[Record] = []
        self._errors: list[str] = []
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._stopped = False
        # Touched only on the loop's thread.
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> FaultProxy:
        if self._thread is not None:
            raise RuntimeError("a FaultProxy starts once")
        self._thread = threading.Thread(target=self._run, name="fault-proxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fault proxy did not start within 10 s")
        if self._startup_error is not None:
            self._thread.join(1)
            raise RuntimeError("fault proxy failed to start") from self._startup_error
        return self

    def stop(self) -> None:
        """Reset every connection (hangs included) and end the thread; within ~2 s."""
        loop, thread = self._loop, self._thread
        if self._stopped or loop is None or thread is None:
            return
        self._stopped = True
        if not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop ended on its own
                loop.call_soon_threadsafe(loop.stop)
        thread.join(_STOP_GRACE + 1.0)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("fault proxy not started")
        return self._port

    @property
    def endpoint(self) -> str:
        return f"http://{LISTEN_HOST}:{self.port}"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- the plan, at run time ------------------------------------------------------------

    @property
    def enabled(self) -> bool:
        return self._enabled

    @enabled.setter
    def enabled(self, value: bool) -> None:
        with self._lock:
            self._enabled = value

    def pause(self) -> None:
        """Inject no more faults (requests already decided keep their fate)."""
        self.enabled = False

    def resume(self) -> None:
        self.enabled = True

    def stats(self) -> Stats:
        with self._lock:
            return Stats(
                connections=self._connections,
                requests=self._seq,
                forwarded=self._forwarded,
                faults=sum(self._by_fault.values()),
                by_operation=dict(self._by_operation),
                by_fault=dict(self._by_fault),
                hangs_finished=self._hangs_finished,
            )

    def history(self) -> list[Record]:
        """Every request read so far, in order, with the fault it got."""
        with self._lock:
            return list(self._history)

    def errors(self) -> list[str]:
        """Unexpected failures inside the proxy (malformed traffic, upstream trouble)."""
        with self._lock:
            return list(self._errors)

    def _decide(self, method: str, target: str, *, continued: bool) -> Record:
        operation = classify(method, target)
        with self._lock:
            self._seq += 1
            self._by_operation[operation] += 1
            kind: Kind | None = None
            if (
                self._enabled
                and operation in self.operations
                and (self.max_faults is None or sum(self._by_fault.values()) < self.max_faults)
            ):
                draw = self._rng.random()
                if draw < self.rate:
                    chosen = self._rng.choice(self.kinds)
                    self._by_fault[(operation, chosen)] += 1
                    kind = chosen
            record = Record(self._seq, method, target, operation, kind, continued)
            self._history.append(record)
            return record

    def _error(self, message: str) -> None:
        with self._lock:
            self._errors.append(message)

    # -- the loop's thread ----------------------------------------------------------------

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        loop.set_exception_handler(lambda _loop, ctx: self._error(str(ctx.get("message"))))
        try:
            try:
                self._server = loop.run_until_complete(
                    asyncio.start_server(
                        self._serve_client, LISTEN_HOST, self._requested_port, limit=_HEAD_LIMIT
                    )
                )
            except BaseException as e:  # reported by start()
                self._startup_error = e
                return
            self._port = self._server.sockets[0].getsockname()[1]
            self._ready.set()
            loop.run_forever()
            loop.run_until_complete(self._shutdown())
        finally:
            self._ready.set()
            with contextlib.suppress(Exception):
                loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            _reset(writer)  # a hang cut short ends as a hang does
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=_STOP_GRACE)
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), _STOP_GRACE)

    async def _serve_client(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = cast("asyncio.Task[None]", asyncio.current_task())
        self._tasks.add(task)
        self._writers.add(writer)
        with self._lock:
            self._connections += 1
        try:
            while not self._stopped:
                if not await self._exchange(reader, writer):
                    break
        except _BadRequest as e:
            self._error(f"bad request: {e}")
            with contextlib.suppress(ConnectionError):
                writer.write(_s3_error(400, "Bad Request", "BadRequest", str(e), close=True))
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away
        except Exception as e:
            self._error(f"{type(e).__name__}: {e}")
        finally:
            self._writers.discard(writer)
            self._tasks.discard(task)
            if writer.transport.is_closing():
                writer.transport.abort()  # already reset, or aborted by stop()
            else:
                writer.close()

    async def _exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Serve one request; True if the client connection stays open for another."""
        head = await _read_head(reader)
        if head is None:
            return False
        try:
            method_b, target_b, version_b = head.start.split(b" ")
        except ValueError as e:
            raise _BadRequest(f"bad request line {head.start!r}") from e
        method, target, version = (p.decode("latin-1") for p in (method_b, target_b, version_b))
        if version not in ("HTTP/1.1", "HTTP/1.0"):
            raise _BadRequest(f"unsupported version {version}")
        continued = "100-continue" in head.tokens("expect") and bool(
            head.tokens("transfer-encoding") or head.headers.get("content-length", "0") != "0"
        )
        if continued:
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            await writer.drain()
        body = await _read_body(reader, head)
        connection = head.tokens("connection")
        keep_alive = "close" not in connection and (
            version == "HTTP/1.1" or "keep-alive" in connection
        )

        record = self._decide(method, target, continued=continued)
        if record.kind == "error500":
            writer.write(_s3_error(500, "Internal Server Error", "InternalError", "Injected."))
            await writer.drain()
            return keep_alive
        if record.kind == "slowdown503":
            writer.write(
                _s3_error(503, "Slow Down", "SlowDown", "Please reduce your request rate.")
            )
            await writer.drain()
            return keep_alive
        if record.kind == "reset_before":
            _reset(writer)
            return False
        if record.kind == "hang":
            await asyncio.sleep(self.hang_seconds)
            with self._lock:
                self._hangs_finished += 1
            _reset(writer)
            return False

        request = head.encode(drop=frozenset({b"expect"})) + body
        try:
            async with asyncio.timeout(self.upstream_timeout):
                response, close_delimited = await self._forward(method, request)
        except (OSError, asyncio.IncompleteReadError, TimeoutError, _BadRequest) as e:
            self._error(f"upstream {record.operation} {target}: {type(e).__name__}: {e}")
            writer.write(
                _s3_error(502, "Bad Gateway", "BadGateway", "Upstream failed.", close=True)
            )
            await writer.drain()
            return False
        if record.kind == "reset_after":
            _reset(writer)
            return False
        response_head, response_body = response
        # Relayed byte for byte, but for the hop-by-hop headers when the body is framed: they
        # are about the upstream connection (moto's says close), which is ours, not the client's.
        drop = frozenset() if close_delimited else _HOP_BY_HOP
        writer.write(response_head.encode(drop=drop) + response_body)
        await writer.drain()
        return keep_alive and not close_delimited

    async def _forward(self, method: str, request: bytes) -> tuple[tuple[_Head, bytes], bool]:
        """Send one request on a fresh upstream connection; its response head and body, and
        whether the body was delimited by the connection's close."""
        reader, writer = await asyncio.open_connection(
            self._upstream_host, self._upstream_port, limit=_HEAD_LIMIT
        )
        self._writers.add(writer)
        try:
            writer.write(request)
            await writer.drain()
            with self._lock:
                self._forwarded += 1
            while True:
                head = await _read_head(reader)
                if head is None:
                    raise ConnectionResetError("upstream closed before answering")
                try:
                    status = int(head.start.split(b" ", 2)[1])
                except (IndexError, ValueError) as e:
                    raise _BadRequest(f"bad status line {head.start!r}") from e
                if not 100 <= status < 200:
                    break  # 1xx are interim: the final answer follows
            if method == "HEAD" or status in (204, 304):
                return (head, b""), False
            if head.tokens("transfer-encoding") or "content-length" in head.headers:
                return (head, await _read_body(reader, head)), False
            return (head, await reader.read()), True  # HTTP/1.0 style: the body ends at close
        finally:
            self._writers.discard(writer)
            writer.transport.abort()


__all__ = [
    "KINDS",
    "OPERATIONS",
    "WRITE_OPERATIONS",
    "FaultProxy",
    "Kind",
    "Operation",
    "Record",
    "Stats",
    "classify",
]
