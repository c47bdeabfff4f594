"""Test helpers: a real relay on 127.0.0.1 in its own event-loop thread, and raw SMTP."""

import asyncio
import dataclasses
import http.client
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from inlet.blobstore import BlobStore
from inlet.envelope import Envelope
from inlet.message_store import MessageStore
from inlet.settings import Settings, load
from relay.server import Relay

DOMAIN = "example.com"
# Real-world messages shared beside the checkout (../shared/corpora), read at run time only.
SHARED_CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"
NO_SHARED_CORPORA = f"no shared corpora at {SHARED_CORPORA}: a plain clone has none (CI has them)"


def shared_corpus_messages() -> list[Path]:
    """Every *.eml in the shared corpora's messages/ directories, sorted; [] when absent."""
    return sorted(SHARED_CORPORA.glob("*/messages/*.eml")) if SHARED_CORPORA.is_dir() else []


def settings(**overrides: Any) -> Settings:
    base = load(
        "up",
        {"smtp_port": "0", "health_port": "0", "hostname": "relay.test", "domains": DOMAIN},
        env={},
    )
    return dataclasses.replace(base, **overrides)


class RunningRelay:
    def __init__(self, relay: Relay, loop: asyncio.AbstractEventLoop) -> None:
        self.relay = relay
        self.loop = loop

    @property
    def port(self) -> int:
        return self.relay.smtp_port

    @property
    def health_port(self) -> int:
        return self.relay.health_port

    def call(self, coro: Any, timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)


@contextmanager
def running_relay(
    store: BlobStore | MessageStore, config: Settings | None = None, **kw: Any
) -> Iterator[RunningRelay]:
    """A relay storing into `store` (a blob store is wrapped in a MessageStore)."""
    messages = store if isinstance(store, MessageStore) else MessageStore(store)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def make() -> Relay:
        relay = Relay(config or settings(), messages, relay_id="test-relay", **kw)
        await relay.start()
        return relay

    relay = asyncio.run_coroutine_threadsafe(make(), loop).result(10)
    running = RunningRelay(relay, loop)
    try:
        yield running
    finally:
        if not relay.stopped.is_set():
            running.call(relay.close())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


class RawSMTP:
    """A byte-level SMTP client for what smtplib will not send (bare LF, no final CRLF...)."""

    def __init__(self, port: int, timeout: float = 10) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.file = self.sock.makefile("rb")

    def reply(self) -> str:
        lines = []
        while True:
            line = self.file.readline()
            if not line:
                raise ConnectionError("closed")
            lines.append(line.decode())
            if line[3:4] != b"-":
                return "".join(lines)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def cmd(self, line: str) -> str:
        self.send(line.encode() + b"\r\n")
        return self.reply()

    def close(self) -> None:
        self.file.close()
        self.sock.close()


def load_raw(store: BlobStore, message_id: str) -> bytes:
    """The stored bytes of a message, as the relay stored them in `store`."""
    return MessageStore(store).load_raw(message_id)


def load_envelope(store: BlobStore, message_id: str) -> Envelope:
    return MessageStore(store).load_envelope(message_id)


def queued_id(reply: str) -> str:
    assert reply.startswith("250 2.0.0 Ok: queued as "), reply
    return reply.split()[-1]


def health_status(port: int) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/healthz")
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


# MIME nested deeper than the parser can follow: the one kind of message that cannot be read.
UNPARSEABLE = (
    b"From: m@example.org\r\nSubject: nested\r\nMIME-Version: 1.0\r\n"
    + b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i)
        for i in range(1500)
    )
    + b"Content-Type: text/plain\r\n\r\ndeep\r\n"
    + b"".join(b"--b%d--\r\n" % i for i in reversed(range(1500)))
)
