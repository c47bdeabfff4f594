import asyncio
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from inlet.blobstore import StorageError
from relay.budget import ByteBudget
from relay.datastream import DataScanner
from relay.writer import MessageWriter, NotStored, TooLarge

pytestmark = pytest.mark.unit


def stuff(content: bytes) -> bytes:
    """What an SMTP client puts on the wire for `content` (which ends in CRLF or is empty)."""
    lines = content.split(b"\r\n")
    wire = b"\r\n".join(b"." + line if line.startswith(b".") else line for line in lines)
    return wire + b".\r\n"


def scan(wire: bytes, sizes: list[int]) -> tuple[bytes, bytes]:
    scanner = DataScanner()
    out, pos, leftover = [], 0, None
    for size in sizes:
        if scanner.done or pos >= len(wire):
            break
        content, leftover = scanner.feed(wire[pos : pos + size])
        out.append(content)
        pos += size
    while not scanner.done:
        content, leftover = scanner.feed(wire[pos : pos + 1])
        out.append(content)
        pos += 1
    assert leftover is not None
    return b"".join(out), leftover + wire[pos:]


CASES = [
    b"",
    b"a\r\n",
    b".\r\n",
    b"..\r\n",
    b".hidden\r\n",
    b"line\r\n.\r\nafter a lone dot line\r\n",
    b"Subject: x\r\n\r\n.starts with dot\r\n..two dots\r\nend\r\n",
    b"bare\nlf and bare\rcr\r\n",
    b"8bit \xc3\xa9\xff\x00 bytes\r\n",
    b"x" * 998 + b"\r\n" + b"y" * 5000 + b"\r\n",
    b"\r\n\r\n\r\n",
]


@pytest.mark.parametrize("content", CASES)
def test_whole_chunk(content: bytes) -> None:
    assert scan(stuff(content) + b"QUIT\r\n", [1 << 20]) == (content, b"QUIT\r\n")


@pytest.mark.parametrize("content", CASES)
def test_every_split_point(content: bytes) -> None:
    wire = stuff(content) + b"MAIL FROM:<a@b>\r\n"
    for cut in range(len(wire)):
        assert scan(wire, [cut, len(wire)]) == (content, b"MAIL FROM:<a@b>\r\n"), cut


def test_random_chunking_matches_reference() -> None:
    rng = random.Random(1234)
    alphabet = [b"a", b".", b"\r\n", b"\r", b"\n", b"\r\n.", b"..", b"\xff"]
    for _ in range(300):
        body = b"".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 60)))
        content = body if body.endswith(b"\r\n") or not body else body + b"\r\n"
        wire = stuff(content)
        # The marker must not occur inside the content's own wire form before the end.
        if wire.find(b"\r\n.\r\n") not in (len(wire) - 5, -1) and content:
            continue
        sizes = [rng.randrange(1, 9) for _ in range(len(wire))]
        assert scan(wire, sizes) == (content, b"")


def test_feeding_after_end_is_an_error() -> None:
    scanner = DataScanner()
    scanner.feed(b".\r\n")
    with pytest.raises(RuntimeError):
        scanner.feed(b"x")


# -- the writer: what becomes of the content DATA delivers ------------------------------------


class FakeMessage:
    """Stands in for an IncomingMessage and records the store calls made on it, in order."""

    write_size = 10
    buffered = 0

    def __init__(self, *, fail_writes: bool = False, hold: threading.Event | None = None) -> None:
        self.id = "01TESTMESSAGE"
        self.calls: list[Any] = []
        self.fail_writes = fail_writes
        self.hold = hold
        self.writing = threading.Event()

    def write(self, data: bytearray) -> None:
        self.writing.set()
        if self.hold is not None:
            self.hold.wait(10)
        self.calls.append(("write", bytes(data)))
        if self.fail_writes:
            raise StorageError("injected")

    def commit(self, draft: object) -> object:
        self.calls.append(("commit", draft))
        return "envelope"

    def abort(self) -> None:
        self.calls.append("abort")


def writer_for(message: FakeMessage, *, limit: int = 100) -> tuple[MessageWriter, ByteBudget]:
    budget = ByteBudget(1000)
    executor = ThreadPoolExecutor(1)
    return MessageWriter(message, budget, executor, limit=limit), budget  # type: ignore[arg-type]


def test_writer_writes_full_batches_and_the_last_one_with_the_commit() -> None:
    async def scenario() -> tuple[object, ByteBudget]:
        writer, budget = writer_for(message)
        with writer:
            await writer.add_header(b"H\r\n")
            await writer.add(b"12345678")  # 11 bytes gathered: one write
            await writer.add(b"abcdefghijklmnop", last=True)  # DATA ended: goes with the commit
            assert budget.held(writer) == 16
            outcome = await writer.finish("draft", deadline=60)  # type: ignore[arg-type]
        return outcome, budget

    message = FakeMessage()
    outcome, budget = asyncio.run(scenario())
    assert outcome == "envelope"
    assert message.calls == [
        ("write", b"H\r\n12345678"),
        ("write", b"abcdefghijklmnop"),
        ("commit", "draft"),
    ]
    assert (budget.used, budget.peak) == (0, 16)  # the write released the first 11


def test_writer_over_the_limit_aborts_at_once_and_discards_the_rest() -> None:
    async def scenario() -> tuple[object, ByteBudget]:
        writer, budget = writer_for(message, limit=8)
        with writer:
            await writer.add_header(b"H\r\n")  # not counted as content
            await writer.add(b"1234")
            await writer.add(b"56789")  # 9 > 8
            assert message.calls == ["abort"]
            assert budget.used == 0
            await writer.add(b"more" * 100, last=True)
            outcome = await writer.finish("draft", deadline=60)  # type: ignore[arg-type]
        return outcome, budget

    message = FakeMessage()
    outcome, budget = asyncio.run(scenario())
    assert outcome == TooLarge()
    assert message.calls == ["abort"]
    assert budget.used == 0


def test_writer_failed_write_aborts_and_refuses() -> None:
    async def scenario() -> object:
        writer, _ = writer_for(message)
        with writer:
            await writer.add(b"x" * 20)
            await writer.add(b"discarded", last=True)
            return await writer.finish("draft", deadline=60)  # type: ignore[arg-type]

    message = FakeMessage(fail_writes=True)
    outcome = asyncio.run(scenario())
    assert isinstance(outcome, NotStored)
    assert str(outcome.error) == "injected"
    assert message.calls == [("write", b"x" * 20), "abort"]


def test_writer_aborts_only_after_the_store_call_in_flight_returned() -> None:
    release = threading.Event()
    message = FakeMessage(hold=release)

    async def scenario() -> None:
        writer, budget = writer_for(message)

        async def receive() -> None:
            with writer:
                await writer.add(b"x" * 20)  # the write blocks in its worker thread

        task = asyncio.create_task(receive())
        while not message.writing.is_set():
            await asyncio.sleep(0.001)
        task.cancel()  # as a lost connection or a shutdown does
        with pytest.raises(asyncio.CancelledError):
            await task
        assert message.calls == []  # the abort waits for the write
        assert budget.used == 0
        release.set()
        for _ in range(1000):
            if "abort" in message.calls:
                break
            await asyncio.sleep(0.001)

    asyncio.run(scenario())
    assert message.calls == [("write", b"x" * 20), "abort"]


def test_writer_aborts_in_place_when_the_executor_is_shutting_down() -> None:
    async def scenario() -> None:
        budget = ByteBudget(1000)
        executor = ThreadPoolExecutor(1)
        executor.shutdown()
        writer = MessageWriter(message, budget, executor, limit=100)  # type: ignore[arg-type]
        with pytest.raises(ConnectionResetError), writer:
            raise ConnectionResetError("connection closed during DATA")
        assert message.calls == ["abort"]

    message = FakeMessage()
    asyncio.run(scenario())
