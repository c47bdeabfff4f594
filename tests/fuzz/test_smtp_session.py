"""SMTP sessions made by hypothesis, against a live `inlet relay` process (plain and STARTTLS).

A session is a list of command lines, valid and not (every verb, lower case, empty lines,
control and 8-bit bytes, overlong lines, bare LF and CR, SIZE= values, AUTH and BDAT that port 25
does not offer), written in pipelined groups, each write split into arbitrary chunks with small
pauses; bodies with dot-stuffing edge cases follow each DATA the relay answers 354; the session
ends with QUIT, a close, a reset, or a connection dropped mid-DATA.

The client knows where each reply must come from: aiosmtpd reads a command line up to LF and
answers each with one reply, so a write of n lines gets n replies (DATA, STARTTLS and QUIT end
a write: what follows depends on their reply). Asserted for every session:
- each reply is a well-formed SMTP reply, within REPLY_SECONDS (no hang), and none carries
  Python exception text (aiosmtpd's "500 Error: (ExcType) ..." for an unhandled error);
- the relay closes a session only after saying why (221, 421 or a 5xx; or with a reset, the
  reply lost with it, once a 5xx came and lines of ours were still unanswered);
- after a body within INLET_MAX_MESSAGE_SIZE: exactly `250 2.0.0 Ok: queued as <id>`, and the
  stored message is the relay's trace header then the content byte for byte (unstuffed), its
  envelope's size and digest those of the stored bytes, its recipients in accepted domains;
  past the limit: `552 5.3.4` and nothing stored;
after every session: the process is alive and a fresh session stores a message; nothing was
logged at ERROR; no partial file is left and no descriptor is held; the relay's peak RSS stays
under RSS_HEADROOM above its RSS after start-up; and what is stored is exactly what was
acknowledged with 250. At the end the relay drains on SIGTERM and exits 0, its RSS within
RSS_GROWTH of its RSS after start-up.

The relay bugs it found are fixed; each has a test of its own at the end.
"""

import contextlib
import hashlib
import json
import os
import re
import signal
import socket
import ssl
import struct
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import trustme
from hypothesis import given
from hypothesis import strategies as st

from inlet import keys
from inlet.blobstore.filesystem import FilesystemBlobStore
from inlet.message_store import MessageStore
from tests.fuzz.bounds import WallClock, bounds, fuzz_settings
from tests.processes import inlet_process, wait_for

pytestmark = pytest.mark.relay

DOMAIN = "example.com"
LIMIT = 16 * 1024  # the relay's INLET_MAX_MESSAGE_SIZE here: small, so 552 comes up often
MAX_RECIPIENTS = 4  # INLET_MAX_RECIPIENTS: small, so 452 comes up often
REPLY_SECONDS = 10.0  # one reply (an fsync or a TLS handshake included) or it is a hang
SESSION_SECONDS = 30.0  # a whole session, whatever it holds
MAX_PIECES = 48  # chunks one write is split into at most; the rest goes in one piece
MAX_PAUSES = 40  # pauses per session at most (each at most 5 ms)
RSS_HEADROOM = 48 << 20  # the relay's peak RSS above its RSS after start-up
RSS_GROWTH = 32 << 20  # the relay's RSS at the end above its RSS after start-up
# The relay closes a session after this many bad command lines (relay.protocol's
# BAD_COMMAND_LIMIT, aiosmtpd's BOGUS_LIMIT): empty, unknown or not ASCII, or overlong.
BAD_COMMANDS = 5
VERBS = {b"EHLO", b"HELO", b"MAIL", b"RCPT", b"DATA", b"RSET", b"NOOP", b"QUIT", b"VRFY"}
VERBS |= {b"HELP", b"EXPN", b"STARTTLS"}

# Default run (`make test`): per variant, at most 250 sessions or 12 s.
LIMITS = bounds(examples=250, seconds=12)

ERROR_TEXT = re.compile(rb"Error: \(|Cannot describe error|Traceback")
REPLY_LINE = re.compile(rb"([2-5][0-9][0-9])([ -]?)([^\r\n]*)\r\n")
QUEUED = re.compile(r"250 2\.0\.0 Ok: queued as ([0-9A-Za-z]+)")
SYNC_WORDS = (b"DATA", b"STARTTLS", b"QUIT")


# -- the relay under test ----------------------------------------------------------------


def proc_status(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM", "Threads"):
            number = int(value.split()[0])
            fields[name] = number * 1024 if name.startswith("Vm") else number
    return fields


@dataclass
class LiveRelay:
    proc: subprocess.Popen[str]
    port: int
    data_dir: Path
    stderr: Path
    client_tls: ssl.SSLContext | None  # trusts the relay's certificate when it offers STARTTLS
    acknowledged: set[str] = field(default_factory=set)  # every id a 250 named
    stored: set[str] = field(default_factory=set)  # every id found stored and accounted for
    unanswered: list[bytes] = field(default_factory=list)  # bodies whose reply a reset took
    # What the sessions came to, for the summary.
    seen: Counter[str] = field(default_factory=Counter)
    sessions: int = 0
    start_rss: int = 0
    fds: int = 0
    threads: int = 0
    _stderr_at: int = 0

    @property
    def store(self) -> MessageStore:
        return MessageStore(FilesystemBlobStore(self.data_dir))

    def open_fds(self) -> int:
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def settle(self) -> None:
        """After start-up and one session: what the checks compare with."""
        probe(self)
        wait_for(lambda: not self.partials(), 5)
        status = proc_status(self.proc.pid)
        self.start_rss, self.threads = status["VmRSS"], status["Threads"]
        time.sleep(0.2)
        self.fds = self.open_fds()

    def partials(self) -> list[str]:
        tmp = self.data_dir / ".tmp"
        return sorted(p.name for p in tmp.iterdir()) if tmp.is_dir() else []

    def errors_logged(self) -> list[str]:
        """Lines the relay logged at ERROR or above (or a traceback) since the last call."""
        with open(self.stderr, "rb") as err:
            err.seek(self._stderr_at)
            text = err.read()
        complete = text[: text.rfind(b"\n") + 1]
        self._stderr_at += len(complete)
        found = []
        for line in complete.decode("utf-8", "replace").splitlines():
            try:
                level = json.loads(line).get("level")
            except (ValueError, AttributeError):
                level = None
            if level in ("ERROR", "CRITICAL") or "Traceback" in line:
                found.append(line)
        return found

    def check_health(self) -> None:
        if self.proc.poll() is not None:
            tail = self.stderr.read_text(errors="replace")[-3000:]
            raise AssertionError(f"the relay exited with {self.proc.returncode}:\n{tail}")
        probe(self)
        wait_for(lambda: not self.partials(), 5)
        wait_for(lambda: self.open_fds() <= self.fds, 5)
        status = proc_status(self.proc.pid)
        assert status["VmHWM"] <= self.start_rss + RSS_HEADROOM, (
            f"peak RSS {status['VmHWM'] >> 20} MiB, start {self.start_rss >> 20} MiB"
        )
        assert status["Threads"] <= self.threads + 40, status
        self.sessions += 1
        self.check_store()

    def check_store(self) -> None:
        """What is stored is what was acknowledged with 250, and a message whose 250 a reset
        took (the relay closing on too many bad commands with lines of ours unread)."""
        store = self.store
        found = {keys.id_from_key(key) for key in store.blobs.list("raw/")}
        missing = self.acknowledged - found
        assert not missing, f"250 but not stored: {sorted(missing)}"
        for message_id in sorted(found - self.stored - self.acknowledged):
            raw = store.load_raw(message_id)
            content = raw[trace_end(raw, message_id) :]
            assert content in self.unanswered, f"stored without a 250: {message_id} {raw[:300]!r}"
            self.unanswered.remove(content)
            self.seen["250 lost with a reset"] += 1
        self.stored = found
        self.unanswered.clear()

    def stop(self) -> None:
        """SIGTERM (the drain), as a deployment stops it: it must end cleanly."""
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(30)
        tail = self.stderr.read_text(errors="replace")[-3000:]
        assert code == 0, f"exit {code}:\n{tail}"
        errors = self.errors_logged()
        assert not errors, "the relay logged errors:\n" + "\n".join(errors)


@pytest.fixture(scope="module", params=["plain", "tls"])
def relay(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveRelay]:
    tmp = tmp_path_factory.mktemp(f"fuzz-relay-{request.param}")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INLET_", "AWS_"))}
    env.update(
        INLET_DOMAINS=DOMAIN,
        INLET_DATA_DIR=str(tmp / "data"),
        INLET_MAX_MESSAGE_SIZE=str(LIMIT),
        INLET_MAX_RECIPIENTS=str(MAX_RECIPIENTS),
        INLET_LOG_LEVEL="WARNING",
    )
    client_tls = None
    if request.param == "tls":
        ca = trustme.CA()
        cert = ca.issue_cert("relay.test")
        cert.cert_chain_pems[0].write_to_path(str(tmp / "cert.pem"))
        cert.private_key_pem.write_to_path(str(tmp / "key.pem"))
        env.update(INLET_TLS_CERT=str(tmp / "cert.pem"), INLET_TLS_KEY=str(tmp / "key.pem"))
        client_tls = ssl.create_default_context()
        ca.configure_trust(client_tls)
    with inlet_process(tmp, "relay", env=env) as (proc, port, _health):
        live = LiveRelay(proc, port, tmp / "data", tmp / "stderr", client_tls)
        live.settle()
        yield live
        live.check_store()
        rss = proc_status(proc.pid)["VmRSS"]
        assert rss <= live.start_rss + RSS_GROWTH, (
            f"RSS {rss >> 20} MiB after {live.sessions} sessions, {live.start_rss >> 20} at start"
        )
        live.stop()


# -- a byte-level client that knows which reply it waits for ------------------------------


class Closed(Exception):
    """The relay closed the connection (reset: with a RST)."""

    def __init__(self, reset: bool) -> None:
        super().__init__("reset" if reset else "closed")
        self.reset = reset


@dataclass
class Reply:
    code: int
    text: str  # every line, CRLFs included


class Client:
    def __init__(self, port: int, transcript: list[str]) -> None:
        self.sock: socket.socket = socket.create_connection(
            ("127.0.0.1", port), timeout=REPLY_SECONDS
        )
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""
        self.deadline = time.monotonic() + SESSION_SECONDS
        self.transcript = transcript
        self.pauses = MAX_PAUSES
        self.tls = False
        self.last: Reply | None = None  # the latest reply
        self.pending = 0  # replies still due for what was sent
        self.refused = False  # a 5xx came: the relay may have given up on this client
        self.bad_lines = 0  # command lines sent that the relay counts as bad (at most)
        self.in_flight: bytes | None = None  # a message sent whole, its reply not read yet
        self.send_failed = False  # the relay had closed: sending stopped, reading goes on

    def hang(self, what: str) -> AssertionError:
        return AssertionError(f"no {what} within the bound:\n" + "\n".join(self.transcript[-40:]))

    def _fill(self) -> None:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise self.hang("end of the session")
        self.sock.settimeout(min(REPLY_SECONDS, left))
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            raise self.hang("reply") from None
        except ConnectionResetError:
            raise Closed(reset=True) from None
        except ssl.SSLError as exc:  # a TLS session torn down without close_notify
            raise Closed(reset=True) from exc
        if not data:
            raise Closed(reset=False)
        self.buffer += data

    def reply(self) -> Reply:
        lines: list[bytes] = []
        code = None
        while True:
            while b"\n" not in self.buffer:
                self._fill()
            line, _, self.buffer = self.buffer.partition(b"\n")
            line += b"\n"
            match = REPLY_LINE.fullmatch(line)
            assert match, f"not an SMTP reply line: {line!r}\n" + "\n".join(self.transcript)
            assert code is None or int(match.group(1)) == code, f"code changed: {line!r}"
            code = int(match.group(1))
            lines.append(line)
            assert not ERROR_TEXT.search(line), f"exception text in a reply: {line!r}\n" + (
                "\n".join(self.transcript)
            )
            if match.group(2) != b"-":
                break
        text = b"".join(lines).decode("utf-8", "replace")
        self.transcript.append("<< " + text.rstrip())
        assert code is not None
        self.last = Reply(code, text)
        self.pending = max(0, self.pending - 1)
        self.refused = self.refused or code >= 500
        return self.last

    def send(self, data: bytes, chunks: list[int], pause: float) -> None:
        """Send `data` in pieces of the sizes `chunks` cycles through. Once the relay has
        closed, nothing more is sent, but what it sent before closing is still read."""
        self.transcript.append(
            f">> {data[:300]!r}" + (f"... ({len(data)} bytes)" * (len(data) > 300))
        )
        if self.send_failed:
            return
        at = 0
        for number in range(MAX_PIECES):
            if at >= len(data):
                return
            size = chunks[number % len(chunks)] if number < MAX_PIECES - 1 else len(data)
            if number and pause and self.pauses > 0:
                self.pauses -= 1
                time.sleep(pause)
            self._sendall(data[at : at + size])
            if self.send_failed:
                return
            at += size

    def _sendall(self, data: bytes) -> None:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise self.hang("end of the session")
        self.sock.settimeout(min(REPLY_SECONDS, left))
        try:
            self.sock.sendall(data)
        except TimeoutError:
            raise self.hang("progress in sending (the relay stopped reading)") from None
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            self.send_failed = True

    def starttls(self, context: ssl.SSLContext) -> None:
        assert self.buffer == b"", f"bytes after 220 to STARTTLS: {self.buffer!r}"
        self.sock.settimeout(REPLY_SECONDS)
        self.sock = context.wrap_socket(self.sock, server_hostname="relay.test")
        self.tls = True
        self.transcript.append("-- TLS")

    def expect_eof(self) -> None:
        try:
            self._fill()
        except Closed:
            return
        raise AssertionError(f"bytes after the session ended: {self.buffer!r}")

    def close(self, *, reset: bool = False) -> None:
        with contextlib.suppress(OSError):
            if reset:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.sock.close()


# -- what a session is ---------------------------------------------------------------------


def short(data: bytes) -> str:
    """`data` as a Python expression, runs of one byte (overlong lines) as `b"x" * n`."""
    parts, at = [], 0
    for run in re.finditer(rb"(.)\1{31,}", data, re.DOTALL):
        if run.start() > at:
            parts.append(repr(data[at : run.start()]))
        parts.append(f"{data[run.start() : run.start() + 1]!r} * {len(run.group())}")
        at = run.end()
    if at < len(data) or not parts:
        parts.append(repr(data[at:]))
    return " + ".join(parts)


@dataclass(repr=False)
class Session:
    lines: list[bytes]  # command lines, each ending in LF
    bodies: list[bytes]  # message contents, one per DATA answered 354, in order
    chunks: list[int]  # sizes each write is split into, cycled
    pause: float  # seconds between chunks
    group: list[int]  # lines per write, cycled (1: lock-step; more: pipelined)
    pipeline_after_body: bool  # the next lines go in the same write as a body
    ending: str  # "quit" | "close" | "reset" | "abort" (dropped mid-DATA)
    abort_at: int  # with "abort": which DATA phase is cut short (0: the first)
    abort_cut: int  # ... after this many bytes of its wire form

    def __repr__(self) -> str:
        def listed(items: list[bytes]) -> str:
            return "[" + ", ".join(short(item) for item in items) + "]"

        return (
            f"Session(lines={listed(self.lines)}, bodies={listed(self.bodies)}, "
            f"chunks={self.chunks!r}, pause={self.pause!r}, group={self.group!r}, "
            f"pipeline_after_body={self.pipeline_after_body!r}, ending={self.ending!r}, "
            f"abort_at={self.abort_at!r}, abort_cut={self.abort_cut!r})"
        )


def stuffed(content: bytes) -> bytes:
    """`content` as it goes on the wire after DATA (RFC 5321 §4.5.2), terminator included."""
    wire = content.replace(b"\r\n.", b"\r\n..")
    return (b"." + wire if wire.startswith(b".") else wire) + b".\r\n"


def command_word(line: bytes) -> bytes:
    """The verb as aiosmtpd reads it (up to the first space, upper-cased)."""
    return line.rstrip(b"\r\n").partition(b" ")[0].upper()


def writes(session: Session) -> Iterator[list[bytes]]:
    """The session's lines in writes: a group ends early at DATA, STARTTLS or QUIT."""
    lines = session.lines
    at = number = 0
    while at < len(lines):
        size = session.group[number % len(session.group)]
        number += 1
        group: list[bytes] = []
        while at < len(lines) and len(group) < size:
            group.append(lines[at])
            at += 1
            if command_word(group[-1]) in SYNC_WORDS:
                break
        yield group


def accepted_recipient(address: str) -> bool:
    if address.lower() == "postmaster":
        return True
    return address.rpartition("@")[2].rstrip(".").lower() == DOMAIN


def trace_end(raw: bytes, message_id: str) -> int:
    """Where the relay's Received: header ends in `raw`: its last line follows the first ";"
    (client text in it has ";", CR and LF replaced)."""
    assert raw.startswith(b"Received: from "), raw[:200]
    semicolon = raw.index(b";\r\n") + 3
    assert raw[semicolon : semicolon + 1] == b"\t", raw[:400]
    end = raw.index(b"\r\n", semicolon) + 2
    assert f" id {message_id}".encode() in raw[:semicolon], raw[:end]
    return end


def check_stored(live: LiveRelay, content: bytes, reply: Reply, transcript: list[str]) -> None:
    context = "\n".join(transcript[-30:])
    if len(content) > LIMIT:
        assert reply.text.startswith("552 5.3.4"), f"{len(content)} bytes: {reply.text}{context}"
        return
    match = QUEUED.fullmatch(reply.text.rstrip("\r\n"))
    assert match, f"{len(content)} bytes within the limit: {reply.text!r}\n{context}"
    message_id = match.group(1)
    store = live.store
    raw = store.load_raw(message_id)
    assert raw[trace_end(raw, message_id) :] == content, f"stored differs from sent\n{context}"
    envelope = store.load_envelope(message_id)
    assert envelope.id == message_id
    assert envelope.size == len(raw)
    assert envelope.sha256 == hashlib.sha256(raw).hexdigest()
    assert 1 <= len(envelope.rcpt_to) <= MAX_RECIPIENTS, envelope.rcpt_to
    assert all(accepted_recipient(r) for r in envelope.rcpt_to), envelope.rcpt_to
    assert (envelope.tls is not None) == any(line == "-- TLS" for line in transcript)
    assert message_id not in live.acknowledged
    live.acknowledged.add(message_id)


def end_of_data(live: LiveRelay, content: bytes, reply: Reply, transcript: list[str]) -> None:
    live.seen[f"end of DATA {reply.code}"] += 1
    check_stored(live, content, reply, transcript)


# Codes after which the relay may close the connection.
def may_close_after(reply: Reply | None) -> bool:
    return reply is not None and (reply.code in (221, 421) or reply.code >= 500)


def may_be_bad(line: bytes) -> bool:
    """Whether the relay may count `line` as a bad command (a superset of what it counts)."""
    word = command_word(line)
    return word not in VERBS or len(line) > 512


def may_give_up(client: "Client") -> bool:
    return client.refused or client.bad_lines >= BAD_COMMANDS


def run_session(live: LiveRelay, session: Session) -> None:
    transcript: list[str] = []
    client = Client(live.port, transcript)
    ended: Closed | None = None
    try:
        converse(live, client, session)
    except Closed as closed:
        ended = closed
    finally:
        client.close()
    live.seen["session"] += 1
    live.seen["tls" if client.tls else "plain"] += 1
    if ended is None:
        return
    if may_close_after(client.last):
        live.seen["closed by the relay"] += 1
    elif ended.reset and client.pending and may_give_up(client):
        # The relay closed on too many bad commands with lines of ours unread: its kernel then
        # resets the connection, and the replies not yet sent (the 502 too) are lost with it.
        live.seen["reset, its reply lost"] += 1
    else:
        last = client.last
        raise AssertionError(
            f"the relay closed the session ({ended}) after "
            f"{last.text if last else 'nothing'!r}:\n" + "\n".join(transcript[-40:])
        )
    if client.in_flight is not None:  # stored or not: check_store tells
        live.unanswered.append(client.in_flight)


def send_body(
    live: LiveRelay, client: Client, session: Session, body: bytes, index: int, after: bytes
) -> bool:
    """Send one message (and `after`, pipelined, if the session does that); False when the
    session drops the connection mid-DATA here instead."""
    wire = stuffed(body)
    if session.ending == "abort" and index == session.abort_at:
        live.seen["dropped mid-DATA"] += 1
        client.send(wire[: min(session.abort_cut, len(wire) - 1)], session.chunks, 0)
        client.close(reset=session.abort_cut % 2 == 1)
        return False
    client.send(
        wire + after if session.pipeline_after_body else wire, session.chunks, session.pause
    )
    return True


def converse(live: LiveRelay, client: Client, session: Session) -> None:
    transcript = client.transcript
    greeting = client.reply()
    assert greeting.code == 220, greeting.text
    bodies = iter(session.bodies)
    body: tuple[int, bytes] | None = None  # the content to send next, after a 354
    data_phases = 0
    for group in writes(session):
        data = b"".join(group)
        client.pending = len(group) + (body is not None)
        if body is None:
            client.bad_lines += sum(map(may_be_bad, group))
            client.send(data, session.chunks, session.pause)
        else:
            if session.pipeline_after_body:
                client.bad_lines += sum(map(may_be_bad, group))
            if not send_body(live, client, session, body[1], body[0], data):
                return
            client.in_flight = body[1]
            end_of_data(live, body[1], client.reply(), transcript)
            client.in_flight = None
            if not session.pipeline_after_body:
                client.bad_lines += sum(map(may_be_bad, group))
                client.send(data, session.chunks, session.pause)
            body = None
        for line in group:
            reply = client.reply()
            live.seen[f"{reply.code // 100}xx"] += 1
            word = command_word(line)
            if reply.code == 354:
                assert word == b"DATA", f"354 to {line!r}"
                live.seen["354"] += 1
                body = (data_phases, next(bodies, b"Subject: default\r\n\r\nx\r\n"))
                data_phases += 1
            elif word == b"STARTTLS" and reply.code == 220:
                assert live.client_tls is not None, "STARTTLS accepted without a certificate"
                assert not client.tls, "a second STARTTLS accepted"
                client.starttls(live.client_tls)
            elif word == b"STARTTLS" and client.tls and line.rstrip(b"\r\n") == b"STARTTLS":
                assert reply.text.startswith("503"), reply.text
            elif word == b"QUIT" and reply.code == 221:
                client.expect_eof()
                return
    if body is not None:  # the lines ended at a 354: the last message
        client.pending = 1
        if not send_body(live, client, session, body[1], body[0], b""):
            return
        client.in_flight = body[1]
        end_of_data(live, body[1], client.reply(), transcript)
        client.in_flight = None
    if session.ending == "quit":
        client.pending = 1
        client.send(b"QUIT\r\n", [6], 0)
        reply = client.reply()
        assert reply.code == 221, reply.text
        client.expect_eof()
    else:
        client.close(reset=session.ending == "reset")


def probe(live: LiveRelay) -> None:
    """A fresh session stores a message: the relay is still serving."""
    transcript: list[str] = []
    client = Client(live.port, transcript)
    try:
        assert client.reply().code == 220
        client.send(b"EHLO probe.test\r\n", [64], 0)
        assert client.reply().code == 250
        client.send(b"MAIL FROM:<probe@example.org>\r\nRCPT TO:<probe@example.com>\r\n", [99], 0)
        assert [client.reply().code for _ in range(2)] == [250, 250]
        client.send(b"DATA\r\n", [6], 0)
        assert client.reply().code == 354
        content = b"Subject: probe %d\r\n\r\n..probe\r\n" % live.sessions
        client.send(stuffed(content), [999], 0)
        check_stored(live, content, client.reply(), transcript)
        client.send(b"QUIT\r\n", [6], 0)
        assert client.reply().code == 221
    finally:
        client.close()


# -- strategies ----------------------------------------------------------------------------


def verb(name: bytes) -> st.SearchStrategy[bytes]:
    return st.sampled_from([name, name.lower(), name[:1] + name[1:].lower()])


def choice(*groups: list[bytes]) -> st.SearchStrategy[bytes]:
    return st.sampled_from([one for group in groups for one in group])


def no_lf(data: bytes) -> bytes:
    return data.replace(b"\n", b"")


junk = st.binary(max_size=40).map(no_lf)
SENDERS = [b"a@example.org", b"", b"j\xc3\xb6s\xc3\xa9@ex\xc3\xa4mple.org", b"bad", b"a@", b"@x"]
RECIPIENTS = [
    b"b@example.com",
    b"B@EXAMPLE.COM",
    b"Postmaster",
    b"postmaster@example.com",
    b"u.ser+tag@example.com",
    b"\xc3\xbcser@example.com",
    b"x@example.com.",
    b"x@other.org",
    b"x@example.com.evil.org",
    b"x@sub.example.com",
    b"x@[127.0.0.1]",
    b"a@b@example.com",
    b'"quoted local"@example.com',
    b"@relay.test:x@example.com",
    b"x" * 70 + b"@example.com",
]
address = st.one_of(st.sampled_from(SENDERS + RECIPIENTS), junk)
path = st.one_of(
    address.map(lambda a: b"<" + a + b">"),
    address,
    st.sampled_from([b"<>", b"<", b">", b"", b"<<b@example.com>>", b" <b@example.com>"]),
)
size_value = st.one_of(
    st.integers(0, 2 * LIMIT).map(lambda n: str(n).encode()),
    st.integers(0, 10**30).map(lambda n: str(n).encode()),
    st.sampled_from(["\u00b2", "\u0663", "1e3", "-1", "", "1" * 21, "0x10", " 5"]).map(
        lambda s: s.encode()
    ),
)
param = st.one_of(
    size_value.map(lambda v: b"SIZE=" + v),
    choice(
        [b"BODY=8BITMIME", b"BODY=7BIT", b"BODY=BINARYMIME", b"SMTPUTF8", b"BODY=", b"SIZE"],
        [b"RET=HDRS", b"ENVID=x", b"NOTIFY=NEVER", b"AUTH=<>", b"X=Y", b"="],
    ),
    junk,
)
params = st.lists(param, max_size=3).map(lambda ps: b"".join(b" " + p for p in ps))


def envelope_line(name: bytes, keyword: bytes) -> st.SearchStrategy[bytes]:
    keywords = [keyword + b":", keyword + b": ", keyword.lower() + b":", keyword, b""]
    return st.builds(
        lambda v, k, p, rest: v + b" " + k + p + rest,
        verb(name),
        st.sampled_from(keywords),
        path,
        params,
    )


helo = st.builds(
    lambda v, host: v + host,
    st.one_of(verb(b"EHLO"), verb(b"HELO")),
    st.one_of(
        choice(
            [b" client.test", b" [127.0.0.1]", b" [IPv6:::1]", b"", b" ", b" x" * 150],
            [b" h\xc3\xa9.test", b" \xff\xfe", b" a b", b" (x);\\", b" \x00\x1b[31m", b"\t"],
        ),
        junk.map(lambda j: b" " + j),
    ),
)
simple = st.one_of(
    choice(
        [b"DATA", b"data", b"DATA x", b"DATA ", b"DATA\t", b"RSET", b"RSET x", b"NOOP"],
        [b"NOOP x", b"HELP", b"HELP MAIL", b"HELP \xff", b"QUIT x", b"STARTTLS x", b"EXPN x"],
        [b"VRFY", b"VRFY b@example.com", b"VRFY \xff\xfe", b"VRFY <\xc3\xa9>", b"VRFY ()"],
        [b"AUTH", b"AUTH PLAIN AGFAAGI=", b"AUTH LOGIN", b"AUTH CRAM-MD5", b"AUTH PLAIN ="],
        [b"BDAT", b"BDAT 10", b"BDAT 0 LAST", b"BDAT x", b"TURN", b"ETRN example.com"],
        [b"", b" ", b"\t", b"\x00", b"\x1b[2J", b"\xff", b"\xc3\xa9", b"MAIL", b"RCPT"],
    ),
    st.builds(lambda v, j: v + b" " + j, st.sampled_from([b"NOOP", b"VRFY", b"HELP"]), junk),
    junk,
)
overlong = st.builds(
    lambda word, n: word + b" " + b"x" * n,
    st.sampled_from([b"NOOP", b"MAIL FROM:<a@example.org>", b"RCPT TO:<b@example.com>", b"X"]),
    st.sampled_from([480, 500, 507, 512, 600, 1000, 1100, 4000, 32760, 33000, 70000]),
)
command = st.one_of(
    helo,
    envelope_line(b"MAIL", b"FROM"),
    envelope_line(b"RCPT", b"TO"),
    simple,
    overlong,
)
terminator = st.sampled_from([b"\r\n"] * 6 + [b"\n", b"\r\r\n", b" \r\n", b"\r \r\n"])
line = st.builds(lambda c, t: c + t, command, terminator)
# A well-formed transaction, so that many sessions get as far as DATA.
transaction = st.builds(
    lambda helo_line, mail_params, rcpts: [
        helo_line,
        b"MAIL FROM:<a@example.org>" + mail_params + b"\r\n",
        *(b"RCPT TO:<" + r + b">\r\n" for r in rcpts),
        b"DATA\r\n",
    ],
    st.sampled_from([b"EHLO client.test\r\n", b"HELO client.test\r\n", b"EHLO x\r\n"]),
    st.sampled_from([b"", b" BODY=8BITMIME", b" SMTPUTF8 BODY=8BITMIME", b" SIZE=100"]),
    st.lists(st.sampled_from(RECIPIENTS[:6]), min_size=1, max_size=MAX_RECIPIENTS + 1),
)

piece = st.one_of(
    choice(
        [b"", b".", b"..", b"...", b".x", b". ", b".\r", b"\r.", b"\n.", b"\n.\n", b"\r.\r"],
        [b"\x00", b"\xff\xfe", b"caf\xc3\xa9", b"From: a@example.org", b"Subject: fuzz"],
        [b"--b", b"\t", b"\r\n.", b".\r\n.", b"\r\n.\r", b"QUIT", b"MAIL FROM:<a@b>"],
    ),
    st.binary(max_size=48),
    st.builds(lambda unit, n: unit * n, st.binary(min_size=1, max_size=3), st.integers(1, 2500)),
)
line_end = st.sampled_from([b"\r\n"] * 6 + [b"\n", b"\r", b""])


def message(pieces: list[tuple[bytes, bytes]]) -> bytes:
    content = b"".join(p + e for p, e in pieces)
    # SMTP ends the last line with CRLF (RFC 5321 §4.1.1.4): a client supplies it if missing.
    return content if not content or content.endswith(b"\r\n") else content + b"\r\n"


def sized(size: int, unit: bytes) -> bytes:
    """A content of exactly `size` bytes: lines of `unit` (dots need stuffing), then filler."""
    lines, rest = divmod(size - 2, 3)
    return (unit + b"\r\n") * lines + b"y" * rest + b"\r\n"


content = st.one_of(
    st.lists(st.tuples(piece, line_end), max_size=16).map(message),
    st.builds(sized, st.integers(LIMIT - 3, LIMIT + 3), st.sampled_from([b".", b"x"])),
)


@st.composite
def sessions(draw: st.DrawFn, *, tls: bool) -> Session:
    segments = draw(
        st.lists(
            st.one_of(transaction, st.lists(line, min_size=1, max_size=6)),
            min_size=1,
            max_size=5,
        )
    )
    lines = [one for segment in segments for one in segment]
    if tls and draw(st.booleans()):
        lines = [b"EHLO client.test\r\n", b"STARTTLS\r\n", *lines]
    return Session(
        lines=lines,
        bodies=draw(st.lists(content, max_size=4)),
        chunks=draw(st.lists(st.integers(1, 9000), min_size=1, max_size=6)),
        pause=draw(st.sampled_from([0.0, 0.0, 0.001, 0.005])),
        group=draw(st.lists(st.integers(1, 8), min_size=1, max_size=4)),
        pipeline_after_body=draw(st.booleans()),
        ending=draw(st.sampled_from(["quit", "close", "reset", "abort", "abort"])),
        abort_at=draw(st.integers(0, 2)),
        abort_cut=draw(st.integers(0, 20000)),
    )


# -- the fuzz test ---------------------------------------------------------------------------


# A failing session is printed whole (its repr is valid Python, long runs abbreviated).
@pytest.mark.filterwarnings("ignore:Generating overly large repr")
def test_every_session_is_answered_and_every_250_is_stored_exactly(relay: LiveRelay) -> None:
    clock = WallClock(LIMITS.seconds)

    strategy = sessions(tls=relay.client_tls is not None)

    def exercise(session: Session) -> None:
        try:
            run_session(relay, session)
        finally:  # this session's, even when it failed: not the next one's
            errors = relay.errors_logged()
        assert not errors, "the relay logged errors:\n" + "\n".join(errors)
        relay.check_health()

    @fuzz_settings(LIMITS, deadline=SESSION_SECONDS + 20)
    @given(data=st.data())
    def fuzz(data: st.DataObject) -> None:
        clock.run(lambda: data.draw(strategy, label="session"), exercise)

    with clock.capped():
        fuzz()
    seen = ", ".join(f"{name}: {n}" for name, n in sorted(relay.seen.items()))
    status = proc_status(relay.proc.pid)
    seen += f"; RSS {relay.start_rss >> 20} MiB at start, peak {status['VmHWM'] >> 20} MiB"
    print(f"SMTP fuzz ({'tls' if relay.client_tls else 'plain'}): {clock.summary()}; {seen}")
    assert clock.ran >= min(LIMITS.examples, 10), clock.summary()


# -- relay bugs the fuzzer found, fixed since ------------------------------------------------


def test_paths_the_stdlib_address_parser_raises_on_are_syntax_errors(relay: LiveRelay) -> None:
    # Found by the fuzzer (fixed since): on these the stdlib's get_addr_spec / get_angle_addr
    # raise IndexError, not HeaderParseError; it escaped aiosmtpd as 500 with the exception text
    # (then 451 "Local error") and an ERROR log.
    lines = [b"MAIL FROM:a@\r\n", b"MAIL FROM:<\r\n", b"VRFY a@\r\n", b'VRFY "\r\n']
    client = Client(relay.port, [])
    try:
        client.reply()
        client.send(b"EHLO client.test\r\n", [64], 0)
        client.reply()
        for one in lines:
            client.send(one, [len(one)], 0)
            reply = client.reply()
            assert reply.code in (501, 502, 553), reply.text
    finally:
        client.close()
        errors = relay.errors_logged()
    assert not errors, errors


def test_lines_after_the_502_are_not_answered(relay: LiveRelay) -> None:
    # Found by the fuzzer (fixed since): after STARTTLS, the relay went on with the lines it had
    # read after its 502, and the closed TLS transport raised AttributeError, logged as errors.
    client = Client(relay.port, [])
    try:
        client.reply()
        if relay.client_tls is not None:
            for line in (b"EHLO client.test\r\n", b"STARTTLS\r\n"):
                client.send(line, [len(line)], 0)
                client.reply()
            client.starttls(relay.client_tls)
        overlong = b"X " + b"x" * 1100 + b"\r\n"
        client.send(b"EHLO client.test\r\n" + overlong * 7, [99999], 0)
        with contextlib.suppress(Closed):
            while client.last is None or client.last.code != 502:
                client.reply()
            client.expect_eof()
    finally:
        client.close()
    time.sleep(0.2)
    errors = relay.errors_logged()
    assert not errors, errors
