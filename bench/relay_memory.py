"""Relay memory bench: peak RSS under concurrent large messages, idle sessions, and a fresh
sender's wait while stalled senders hold the byte budget.

Each measurement starts its own `inlet relay` (127.0.0.1 only, the budget INLET_BUFFER_BUDGET at
its default unless --budget), on the filesystem store (--data-dir in a temp dir) or on S3 (one
`moto_server` started by the bench, a bucket per measurement). The client is this process
(asyncio, raw SMTP). Measurements:

  concurrent  N senders at once, one 6 MiB message each (N = 20, 60, 200): the relay's VmHWM
              (/proc/PID/status) after the load against the budget; every message read back
              from the store and compared byte for byte (the trace header aside).
  idle        1000 sessions connected (greeting and EHLO), doing nothing: VmRSS.
  stalled     75 senders send 900 KB of DATA each and then nothing (on S3 also 14 x 5 MB); then
              one fresh sender sends a 1 MB message: its time to 250 (capped by --patience),
              and how many stalled senders got 421 4.4.2.

Every loop is bounded in count and time; the bench stops only the processes it started, by PID.
Usage:  .venv/bin/python bench/relay_memory.py [--stores fs,s3] [--only concurrent,idle,stalled]
        [--sizes 20,60,200] [--budget BYTES] [--relay-env NAME=VALUE ...] [--json PATH]
"""

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from relay_bench import (
    HOST,
    LIVE,
    VENV_BIN,
    Child,
    Moto,
    cpu_model,
    cpu_seconds,
    free_port,
    spawn,
    status_mib,
    stdout_has,
    stop,
    table,
    tail,
    wait_ready,
)

MIB = 1 << 20
DEFAULT_BUDGET = 64 * MIB  # INLET_BUFFER_BUDGET's default
MESSAGE_SIZE = 6 * MIB
IDLE_SESSIONS = 1000
STALLED = ((75, 900_000), (14, 5_000_000))  # (senders, bytes each); the second on S3 only
FRESH_SIZE = 1_000_000
LINE = b"y" * 78 + b"\r\n"
CONNECT_BATCH = 50  # the relay listens with asyncio's default backlog (100)

# The stated bound (docs/performance.md, "Fair memory"): peak RSS <= idle + budget + a fixed
# 20 MiB (the oldest holder's overshoot by a part, allocator slack, worker threads' blocks) +
# 320 KiB per session in DATA (its reader's buffer and the chunk it holds while it waits);
# an idle session costs 16 KiB.
FIXED_OVERHEAD_MIB = 20.0
PER_DATA_SESSION_KIB = 320.0
PER_IDLE_SESSION_KIB = 16.0

# Figures measured before this work (issue 11, 2026-12-01, on this kind of 2-core VM) and the
# anchors of ../shared/bench/RESULTS.md that bear on memory.
BEFORE = {
    "s3_20": "217 MiB (idle 53)",
    "s3_60": "281 MiB",
    "stalled": "45 s and more (fs: 75 x 900 KB; S3: 14 x 5 MB)",
}
ANCHORS = (
    "stock aiosmtpd (RESULTS.md): 10 x 1 MiB concurrent peak VmHWM 46.0 MiB (idle 23.8); "
    "one 50 MiB message 229.1 MiB (+205, 4.1 x the message)",
    "streamed DATA sink (RESULTS.md): one 50 MiB message 24.4 MiB (flat)",
)


@dataclass
class Row:
    store: str
    scenario: str
    load: str
    idle_mib: float = 0.0
    peak_mib: float = 0.0
    rss_mib: float = 0.0  # VmRSS at the measured moment (idle sessions)
    budget_mib: float = 0.0
    sessions: int = 0
    ok: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    exact: bool | None = None
    fresh_s: float | None = None
    fresh_reply: str = ""
    stalled_421: int = 0
    wall_s: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def bound_mib(self) -> float:
        if self.scenario == "idle":
            return self.idle_mib + PER_IDLE_SESSION_KIB * self.sessions / 1024
        per = PER_DATA_SESSION_KIB * self.sessions / 1024
        return self.idle_mib + self.budget_mib + FIXED_OVERHEAD_MIB + per

    @property
    def overhead_mib(self) -> float:
        """What the relay held above its idle footprint and the budget."""
        return self.peak_mib - self.idle_mib - self.budget_mib


# -- /proc ---------------------------------------------------------------------------------


async def wait_quiet(pid: int, *, quiet: float = 0.5, limit: float = 15.0) -> None:
    """Wait until process `pid` has used no CPU for `quiet` seconds (at most `limit`)."""
    deadline = time.monotonic() + limit
    last = cpu_seconds(pid)
    while time.monotonic() < deadline:
        await asyncio.sleep(quiet)
        now = cpu_seconds(pid)
        if now - last < 0.01:
            return
        last = now


# -- the relay -----------------------------------------------------------------------------


@dataclass
class Relay:
    child: Child
    port: int
    data_dir: Path | None
    bucket: str | None


def start_relay(args: argparse.Namespace, store: str, work: Path, moto: Moto | None) -> Relay:
    port, health = free_port(), free_port()
    argv = [
        str(VENV_BIN / "inlet"),
        "relay",
        "--domains=example.com",
        f"--smtp-host={HOST}",
        f"--smtp-port={port}",
        f"--health-port={health}",
        "--hostname=bench.local",
        "--metrics-interval=3600",
        f"--log-level={args.log_level}",
        f"--max-sessions={IDLE_SESSIONS + 200}",
    ]
    env = {**(moto.env() if moto else os.environ)}
    # All senders come from 127.0.0.1: the per-address limit must not refuse them. As env
    # variables, so that a relay without these settings (an older checkout) still starts.
    env["INLET_MAX_SESSIONS_PER_IP"] = str(IDLE_SESSIONS + 200)
    env["INLET_BUFFER_BUDGET"] = str(args.budget)
    if args.stall_timeout:
        env["INLET_STALL_TIMEOUT"] = str(args.stall_timeout)
    for item in args.relay_env:
        name, _, value = item.partition("=")
        env[name] = value
    data_dir = bucket = None
    if store == "s3":
        assert moto is not None
        bucket = f"bench-mem-{uuid.uuid4().hex[:12]}"
        moto.client.create_bucket(Bucket=bucket)
        argv.append(f"--bucket={bucket}")
    else:
        data_dir = work / "data"
        argv.append(f"--data-dir={data_dir}")
    child = spawn("relay", argv, work / "logs", env=env)
    wait_ready(child, stdout_has(child, b"inlet relay: SMTP on "))
    time.sleep(0.5)  # let start-up allocations settle before the idle reading
    return Relay(child, port, data_dir, bucket)


def stop_relay(relay: Relay, moto: Moto | None, row: Row) -> None:
    code, killed = stop(relay.child)
    if code not in (0, None) or killed:
        row.notes.append(f"relay exit {code}, killed={killed}: {tail(relay.child.stderr)}")
    if relay.bucket and moto is not None:
        with contextlib.suppress(Exception):
            uploads = moto.client.list_multipart_uploads(Bucket=relay.bucket).get("Uploads", [])
            if uploads:
                row.notes.append(f"{len(uploads)} multipart uploads left open")
        moto.drop(relay.bucket)


def stored_messages(relay: Relay, moto: Moto | None) -> dict[str, bytes]:
    """Every raw message the relay stored, by id."""
    found: dict[str, bytes] = {}
    if relay.data_dir is not None:
        raw = relay.data_dir / "raw"
        for path in sorted(raw.rglob("*.eml")) if raw.is_dir() else []:
            found[path.stem] = path.read_bytes()
        return found
    assert moto is not None
    assert relay.bucket is not None
    pages = moto.client.get_paginator("list_objects_v2").paginate(
        Bucket=relay.bucket, Prefix="raw/"
    )
    for page in pages:
        for item in page.get("Contents", []):
            key = item["Key"]
            body = moto.client.get_object(Bucket=relay.bucket, Key=key)["Body"].read()
            found[key.rsplit("/", 1)[-1].removesuffix(".eml")] = body
    return found


def leftovers(relay: Relay) -> int:
    if relay.data_dir is None:
        return 0
    tmp = relay.data_dir / ".tmp"
    return sum(1 for _ in tmp.iterdir()) if tmp.is_dir() else 0


# -- the client ----------------------------------------------------------------------------


class Session:
    """One raw SMTP client session (asyncio streams)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int, timeout: float) -> "Session":
        reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), timeout)
        session = cls(reader, writer)
        greeting = await session.reply(timeout)
        if not greeting.startswith("220"):
            raise ConnectionError(greeting.strip())
        return session

    async def reply(self, timeout: float) -> str:
        lines = []
        while True:
            line = await asyncio.wait_for(self.reader.readline(), timeout)
            if not line:
                raise ConnectionError("closed")
            lines.append(line.decode(errors="replace"))
            if line[3:4] != b"-":
                return "".join(lines)

    async def cmd(self, line: str, timeout: float) -> str:
        self.writer.write(line.encode() + b"\r\n")
        await self.writer.drain()
        return await self.reply(timeout)

    async def start_data(self, timeout: float) -> None:
        for line in ("EHLO client.bench", "MAIL FROM:<a@example.org>", "RCPT TO:<b@example.com>"):
            answer = await self.cmd(line, timeout)
            if not answer.startswith("250"):
                raise ConnectionError(f"{line}: {answer.strip()}")
        answer = await self.cmd("DATA", timeout)
        if not answer.startswith("354"):
            raise ConnectionError(f"DATA: {answer.strip()}")

    async def send(self, data: bytes | memoryview, chunk: int = 64 * 1024) -> None:
        view = memoryview(data)
        for start in range(0, len(view), chunk):
            self.writer.write(view[start : start + chunk])
            await self.writer.drain()

    def close(self) -> None:
        self.writer.close()


def content_for(tag: str, payload: bytes) -> tuple[bytes, bytes]:
    """(header, payload) of one message; what the relay must store after its trace header."""
    header = f"Message-ID: <{tag}@bench.local>\r\nSubject: {tag}\r\n\r\n".encode()
    return header, payload


async def send_message(
    port: int, header: bytes, payload: bytes, timeout: float
) -> tuple[str, float]:
    """Send one message in its own session: (the reply after DATA, seconds from connect)."""
    started = time.monotonic()
    session = await Session.open(port, timeout)
    try:
        await session.start_data(timeout)
        await session.send(header)
        await session.send(payload)
        await session.send(b".\r\n")
        reply = await session.reply(timeout)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(session.cmd("QUIT", 5), 5)
        return reply.strip(), time.monotonic() - started
    finally:
        session.close()


def check_exact(stored: dict[str, bytes], expected: dict[str, bytes]) -> bool:
    """Every acknowledged id is stored as a trace header followed by exactly its content, and
    nothing else is stored."""
    if set(stored) != set(expected):
        return False
    for message_id, content in expected.items():
        raw = stored[message_id]
        head = raw[: len(raw) - len(content)]
        if not (raw.endswith(content) and head.startswith(b"Received: ") and len(head) < 2000):
            return False
        if hashlib.sha256(raw[len(head) :]).digest() != hashlib.sha256(content).digest():
            return False
    return True


# -- the measurements ----------------------------------------------------------------------


def concurrent(args: argparse.Namespace, store: str, n: int, work: Path, moto: Moto | None) -> Row:
    row = Row(store, "concurrent", f"{n} x 6 MiB", budget_mib=args.budget / MIB, sessions=n)
    relay = start_relay(args, store, work, moto)
    try:
        row.idle_mib = status_mib(relay.child.pid, "VmHWM")
        payload = LINE * (MESSAGE_SIZE // len(LINE))
        headers = [content_for(f"c{n}-{i}", payload)[0] for i in range(n)]

        async def load() -> list[tuple[str, float] | BaseException]:
            return await asyncio.gather(
                *(send_message(relay.port, h, payload, args.patience) for h in headers),
                return_exceptions=True,
            )

        started = time.monotonic()
        results = asyncio.run(load())
        row.wall_s = time.monotonic() - started
        row.peak_mib = status_mib(relay.child.pid, "VmHWM")
        expected = {}
        for header, result in zip(headers, results, strict=True):
            if isinstance(result, BaseException):
                row.refused[type(result).__name__] += 1
            elif result[0].startswith("250 "):
                row.ok += 1
                expected[result[0].split()[-1]] = header + payload
            else:
                row.refused[result[0][:3]] += 1
        row.exact = row.ok == n and check_exact(stored_messages(relay, moto), expected)
        if left := leftovers(relay):
            row.notes.append(f"{left} partial files left in .tmp/")
    finally:
        stop_relay(relay, moto, row)
    return row


def idle(args: argparse.Namespace, store: str, work: Path, moto: Moto | None) -> Row:
    n = IDLE_SESSIONS
    row = Row(store, "idle", f"{n} idle sessions", budget_mib=args.budget / MIB, sessions=n)
    relay = start_relay(args, store, work, moto)
    try:
        row.idle_mib = status_mib(relay.child.pid, "VmHWM")

        async def hold() -> None:
            sessions: list[Session] = []
            try:
                for start in range(0, n, CONNECT_BATCH):
                    batch = await asyncio.gather(
                        *(
                            Session.open(relay.port, args.patience)
                            for _ in range(min(CONNECT_BATCH, n - start))
                        ),
                        return_exceptions=True,
                    )
                    for s in batch:
                        if isinstance(s, BaseException):
                            row.refused[type(s).__name__] += 1
                        else:
                            sessions.append(s)
                answers = await asyncio.gather(
                    *(s.cmd("EHLO client.bench", args.patience) for s in sessions),
                    return_exceptions=True,
                )
                row.ok = sum(1 for a in answers if isinstance(a, str) and a.startswith("250"))
                await asyncio.sleep(1.0)  # the relay's side settles
                row.rss_mib = status_mib(relay.child.pid, "VmRSS")
            finally:
                for s in sessions:
                    s.close()

        started = time.monotonic()
        asyncio.run(hold())
        row.wall_s = time.monotonic() - started
        row.peak_mib = status_mib(relay.child.pid, "VmHWM")
    finally:
        stop_relay(relay, moto, row)
    return row


def stalled(
    args: argparse.Namespace, store: str, count: int, size: int, work: Path, moto: Moto | None
) -> Row:
    load = f"{count} stalled x {size / 1e6:g} MB + 1 fresh"
    row = Row(store, "stalled", load, budget_mib=args.budget / MIB, sessions=count + 1)
    relay = start_relay(args, store, work, moto)
    try:
        row.idle_mib = status_mib(relay.child.pid, "VmHWM")

        async def scenario() -> None:
            stalled_payload = LINE * (size // len(LINE))
            sessions: list[Session] = []
            try:
                for _ in range(count):
                    s = await Session.open(relay.port, args.patience)
                    await s.start_data(args.patience)
                    s.writer.write(stalled_payload)  # then nothing
                    sessions.append(s)
                # Let the relay take what it will (the last senders' data stays in the kernel),
                # until it has nothing left to do: its CPU time stops growing.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.gather(*(s.writer.drain() for s in sessions)), 5)
                await wait_quiet(relay.child.pid)
                header, payload = content_for("fresh", LINE * (FRESH_SIZE // len(LINE)))
                try:
                    reply, seconds = await send_message(relay.port, header, payload, args.patience)
                    row.fresh_reply, row.fresh_s = reply[:3], seconds
                    if reply.startswith("250 "):
                        row.ok = 1
                        stored = stored_messages(relay, moto)
                        row.exact = check_exact(stored, {reply.split()[-1]: header + payload})
                except TimeoutError:
                    row.fresh_reply = f"none in {args.patience:g} s"
                except (ConnectionError, OSError) as exc:
                    row.fresh_reply = f"{type(exc).__name__}: {exc}"
                answers = await asyncio.gather(
                    *(s.reply(0.5) for s in sessions), return_exceptions=True
                )
                row.stalled_421 = sum(
                    1 for a in answers if isinstance(a, str) and a.startswith("421 4.4.2")
                )
            finally:
                for s in sessions:
                    s.close()

        started = time.monotonic()
        asyncio.run(scenario())
        row.wall_s = time.monotonic() - started
        row.peak_mib = status_mib(relay.child.pid, "VmHWM")
        time.sleep(1.0)  # the closed sessions' cleanup
        if left := leftovers(relay):
            row.notes.append(f"{left} partial files left in .tmp/")
    finally:
        stop_relay(relay, moto, row)
    return row


# -- the report ----------------------------------------------------------------------------


def cells(row: Row) -> list[str]:
    before = ""
    if row.scenario == "concurrent" and row.store == "s3":
        before = BEFORE.get(f"s3_{row.sessions}", "")
    if row.scenario == "stalled":
        before = BEFORE["stalled"]
    if row.scenario == "stalled":
        if row.fresh_s:
            result = f"fresh {row.fresh_reply} after {row.fresh_s:.1f} s"
        else:
            result = f"fresh: {row.fresh_reply}"
        result += f"; {row.stalled_421} stalled got 421"
    elif row.scenario == "idle":
        result = f"{row.ok} sessions, VmRSS {row.rss_mib:.1f} MiB " + (
            f"({(row.rss_mib - row.idle_mib) * 1024 / max(row.ok, 1):.0f} KiB/session)"
        )
    else:
        per = row.overhead_mib * 1024 / row.sessions
        result = f"{row.ok}/{row.sessions} stored; overhead {row.overhead_mib:+.1f} MiB " + (
            f"({per:+.0f} KiB/session)"
        )
    exact = "-" if row.exact is None else ("yes" if row.exact else "NO")
    refused = ", ".join(f"{k} x{v}" for k, v in sorted(row.refused.items())) or "-"
    measured = row.rss_mib if row.scenario == "idle" else row.peak_mib
    within = "yes" if measured <= row.bound_mib else "NO"
    return [
        row.store,
        row.load,
        f"{row.idle_mib:.1f}",
        f"{row.peak_mib:.1f}",
        f"{row.budget_mib:g}",
        f"{row.bound_mib:.0f} {within}",
        result,
        exact,
        refused,
        f"{row.wall_s:.1f}",
        before,
    ]


HEADER = (
    "store",
    "load",
    "idle MiB",
    "peak MiB",
    "budget MiB",
    "bound MiB",
    "result",
    "byte-exact",
    "refused",
    "wall s",
    "before (issue 11)",
)


def report(args: argparse.Namespace, started: datetime, rows: Sequence[Row]) -> None:
    print()
    print(f"Inlet relay memory bench, {started:%Y-%m-%d %H:%M:%S} UTC")
    print(f"nproc={os.cpu_count()}  python={platform.python_version()}  {cpu_model()}")
    extra = " ".join(args.relay_env) or "none"
    print(f"budget {args.budget / MIB:g} MiB; extra relay env: {extra}")
    print("peak = the relay's VmHWM after the load; overhead = peak - idle - budget")
    print(
        f"bound = idle + budget + {FIXED_OVERHEAD_MIB:g} MiB + {PER_DATA_SESSION_KIB:g} KiB per "
        f"session in DATA (idle sessions: idle + {PER_IDLE_SESSION_KIB:g} KiB each, VmRSS)"
    )
    print(table(HEADER, [cells(r) for r in rows]))
    print("\nanchors:")
    for line in ANCHORS:
        print(f"  {line}")
    notes = [f"  {r.store} {r.load}: {n}" for r in rows for n in r.notes]
    print("\nnotes:")
    print("\n".join(notes) if notes else "  none")
    if args.json:
        doc = {
            "started": started.isoformat(),
            "command": [sys.executable, *sys.argv],
            "machine": {"nproc": os.cpu_count(), "cpu": cpu_model(), "python": sys.version},
            "params": vars(args),
            "rows": [
                {**asdict(r), "overhead_mib": r.overhead_mib, "bound_mib": r.bound_mib}
                for r in rows
            ],
        }
        Path(args.json).write_text(json.dumps(doc, indent=2, default=str) + "\n")
        print(f"\nJSON: {args.json}")


def run(args: argparse.Namespace) -> int:
    stores = [s for s in args.stores.split(",") if s]
    only = set(args.only.split(","))
    sizes = [int(n) for n in args.sizes.split(",") if n]
    started = datetime.now(UTC)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="relay-memory-") as tmp:
        work = Path(tmp)
        moto = Moto(work / "moto") if "s3" in stores else None
        try:
            for store in stores:
                jobs: list[tuple[str, Any]] = []
                if "concurrent" in only:
                    jobs += [(f"{n} x 6 MiB", (concurrent, n)) for n in sizes]
                if "idle" in only:
                    jobs.append(("idle", (idle,)))
                if "stalled" in only:
                    for count, size in STALLED if store == "s3" else STALLED[:1]:
                        jobs.append((f"{count} stalled", (stalled, count, size)))
                for i, (title, (fn, *params)) in enumerate(jobs):
                    scratch = work / f"{store}-{i}"
                    row = fn(args, store, *params, scratch, moto)
                    rows.append(row)
                    print(f"[{store}] {title}: {' | '.join(cells(row)[2:10])}", flush=True)
        finally:
            if moto is not None:
                stop(moto.child)
            if args.keep:
                kept = Path(tempfile.mkdtemp(prefix="relay-memory-kept-"))
                for logs in work.glob("*/logs"):
                    shutil.copytree(logs, kept / logs.parent.name)
                print(f"relay logs kept in {kept}")
    report(args, started, rows)
    return 0


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--stores", default="fs,s3", help="fs, s3 or both (default)")
    p.add_argument("--only", default="concurrent,idle,stalled", help="a subset of the loads")
    p.add_argument("--sizes", default="20,60,200", help="concurrent senders of 6 MiB each")
    p.add_argument("--budget", type=int, default=DEFAULT_BUDGET, help="INLET_BUFFER_BUDGET")
    p.add_argument(
        "--stall-timeout", type=float, default=0, help="INLET_STALL_TIMEOUT (0: the relay's)"
    )
    p.add_argument("--patience", type=float, default=120, help="seconds any one reply may take")
    p.add_argument(
        "--relay-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment for the relay (e.g. an A/B of allocator settings)",
    )
    p.add_argument("--log-level", default="WARNING", help="the relay's (its stderr is kept)")
    p.add_argument("--keep", action="store_true", help="keep the relays' logs")
    p.add_argument("--json", default="", help="also write the rows as JSON to this path")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return run(args)
    finally:
        for child in list(LIVE):
            stop(child, timeout=10)


if __name__ == "__main__":
    sys.exit(main())
