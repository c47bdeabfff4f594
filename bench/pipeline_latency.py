"""End-to-end latency of `inlet up`: from the relay's 250 to the message being searchable.

Starts `inlet up` on a fresh temp data dir and free ports on 127.0.0.1 (its stdout and stderr go
to files), waits for its ready line, then sends N messages with postfix's `smtp-source`
(default 1000 x 10 KiB over 10 parallel sessions, one connection per message). `inlet up` logs
one JSON line per indexed message on stderr, {"message": "indexed", "latency_ms": ...}: the time
from the relay's 250 (the stored hook) to the index commit. The bench waits, bounded, until N
such events appeared, then prints:

- latency percentiles (p50/p90/p99/max, nearest rank) of latency_ms;
- the send duration (smtp-source's wall time), the drain time (from smtp-source's exit to the
  last "indexed" event, by the events' own timestamps; <= 0 means the pipeline kept up) and the
  indexing throughput (N / (last indexed - send start));
- the CPU of the `inlet up` process (utime+stime from /proc/PID/stat) per message, from just
  before the send to the last index commit: relay, parse and index together; its VmHWM;

With --webhook, `inlet up` also has a webhook to examples/webhook_receiver.py (a process of its
own, its output in a file), and the bench waits, bounded, until the receiver has taken every
event: it adds the time from the send's start to the last delivery, deliveries per second, and
the CPU per message then covers the deliveries too (run it with and without to see their cost).

and then checks with `inlet search --to rcpt@example.com --json --limit 1000 --data-dir D`
(following `more: add --cursor X` on stderr) that every message is searchable, failing loudly
(exit code 1) if not. `inlet up` is stopped with SIGTERM by its PID.

Usage: .venv/bin/python bench/pipeline_latency.py [--messages N] [--size BYTES] [--sessions S]
                                                  [--timeout SECONDS] [--webhook] [--keep]
Results go to stdout and bench/out/latency-<timestamp>.json (gitignored).
"""

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from relay_bench import (
    HOST,
    LIVE,
    OUT_DIR,
    VENV_BIN,
    Child,
    cpu_model,
    cpu_seconds,
    free_port,
    relay_metrics,
    spawn,
    stdout_has,
    stop,
    table,
    tail,
    vm_hwm_mib,
    wait_ready,
)

SENDER = "sender@example.org"
RECIPIENT = "rcpt@example.com"
SETTLE_SECONDS = 0.5
POLL_SECONDS = 0.05
SEARCH_PAGE = 1000
SEARCH_TIMEOUT = 120.0
CURSOR_PREFIX = "more: add --cursor "
RECEIVER = Path(__file__).resolve().parent.parent / "examples" / "webhook_receiver.py"
WEBHOOK_SECRET = "bench-webhook-secret-0123456789"

# Anchors (bench/README.md, "Anchors"): what the pieces cost before any project code existed.
ANCHORS: dict[str, float] = {
    "stock_aiosmtpd_10k_cpu_ms": 0.868,  # aiosmtpd (discard), source, 10K, s20
    "naive_s3_10k_cpu_ms": 3.048,  # aiosmtpd + boto3 put_object -> moto, 10K, s20
    "stdlib_parse_plain_msgs_s": 1423.4,  # parse_get_content, plain ~12 KB messages
}


@dataclass
class Result:
    status: str = "ok"  # ok | short | timeout | server-died | not-searchable | client-errors
    messages: int = 0
    size: int = 0
    sessions: int = 0
    client_rc: int | None = None
    stored: int = 0
    indexed: int = 0
    failed: int = 0
    searchable: int = 0
    search_pages: int = 0
    send_s: float = 0.0
    send_msgs_per_s: float = 0.0
    drain_s: float | None = None
    index_span_s: float | None = None
    indexed_msgs_per_s: float | None = None
    latency_ms: dict[str, float] = field(default_factory=dict)
    cpu_ms_per_msg: float | None = None
    cpu_s: float = 0.0
    idle_rss_mib: float = 0.0
    peak_rss_mib: float = 0.0
    webhook: bool = False
    delivered: int = 0  # events the receiver took (first time)
    duplicates: int = 0  # events it had taken before (at least once)
    delivered_span_s: float | None = None  # send start -> the last delivery seen
    delivered_per_s: float | None = None
    server_rc: int | None = None
    server_killed: bool = False
    relay: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


# -- the log of `inlet up` ---------------------------------------------------------------


class EventLog:
    """Reads the JSON lines `inlet up` appends to its stderr file, complete lines only."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.indexed: list[dict[str, Any]] = []
        self.failed: list[dict[str, Any]] = []
        self.other_errors: list[str] = []

    def poll(self) -> None:
        with self.path.open("rb") as f:
            f.seek(self.offset)
            data = f.read()
        end = data.rfind(b"\n")
        if end < 0:
            return
        self.offset += end + 1
        for line in data[: end + 1].splitlines():
            self._take(line)

    def _take(self, line: bytes) -> None:
        try:
            event = json.loads(line)
        except ValueError:
            self.other_errors.append(line.decode(errors="replace")[:200])
            return
        if event.get("message") == "indexed":
            self.indexed.append(event)
        elif event.get("message") == "processing failed":
            self.failed.append(event)
        elif event.get("level") in ("WARNING", "ERROR", "CRITICAL"):
            self.other_errors.append(json.dumps(event)[:200])


def event_time(event: dict[str, Any]) -> float:
    return datetime.fromisoformat(event["time"]).timestamp()


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest rank: the smallest value with at least q % of the values at or below it."""
    rank = max(1, -(-len(sorted_values) * q // 100))  # ceil(n * q / 100)
    return sorted_values[int(rank) - 1]


def latency_summary(values: Sequence[float]) -> dict[str, float]:
    ordered = sorted(values)
    if not ordered:
        return {}
    summary = {f"p{q:g}": percentile(ordered, q) for q in (50, 90, 99)}
    summary.update(min=ordered[0], max=ordered[-1], mean=sum(ordered) / len(ordered))
    return summary


# -- the run -----------------------------------------------------------------------------


def start_inlet(data_dir: Path, logs: Path, env: dict[str, str]) -> tuple[Child, int]:
    port, health = free_port(), free_port()
    argv = [
        str(VENV_BIN / "inlet"),
        "up",
        f"--data-dir={data_dir}",
        f"--smtp-host={HOST}",
        f"--smtp-port={port}",
        f"--health-port={health}",
        "--domains=example.com",
        "--hostname=bench.local",
        "--metrics-interval=3600",  # EMF totals once, at shutdown (on stdout)
        "--log-level=INFO",  # the "indexed" events are INFO
    ]
    child = spawn("inlet-up", argv, logs, env=env)
    wait_ready(child, stdout_has(child, b"inlet up: SMTP on "))
    return child, port


def start_receiver(logs: Path, env: dict[str, str]) -> tuple[Child, str]:
    argv = [sys.executable, str(RECEIVER), "--host", HOST, "--port", "0"]
    child = spawn("receiver", argv, logs, env={**env, "INLET_WEBHOOK_SECRET": WEBHOOK_SECRET})
    wait_ready(child, stdout_has(child, b"listening on "))
    line = child.stdout.read_text().splitlines()[0]
    return child, line.split("listening on ", 1)[1].strip()


def taken(receiver: Child) -> tuple[int, int]:
    """(events taken, duplicates) from the receiver's output so far."""
    lines = receiver.stdout.read_text(errors="replace").splitlines()
    duplicates = sum(1 for line in lines if line.startswith("duplicate "))
    events = sum(1 for line in lines if line.startswith("Message "))
    return events, duplicates


def wait_delivered(receiver: Child, want: int, deadline: float) -> tuple[str, float]:
    """Poll the receiver's output until `want` events were taken. (ok | timeout, when)"""
    while True:
        if taken(receiver)[0] >= want:
            return "ok", time.time()
        if time.monotonic() > deadline:
            return "timeout", time.time()
        time.sleep(POLL_SECONDS)


def send(args: argparse.Namespace, port: int, logs: Path) -> tuple[int | None, str, float]:
    """smtp-source to completion, or killed at the timeout. (exit code, stderr, wall seconds)"""
    argv = [shutil.which("smtp-source") or "/usr/sbin/smtp-source", "-s", str(args.sessions)]
    argv += ["-m", str(args.messages), "-l", str(args.size), "-f", SENDER, "-t", RECIPIENT]
    argv.append(f"{HOST}:{port}")
    err = logs / "smtp-source.err"
    t0 = time.monotonic()
    with (logs / "smtp-source.out").open("wb") as fo, err.open("wb") as fe:
        try:
            rc: int | None = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=fo,
                stderr=fe,
                timeout=args.timeout,
                check=False,
            ).returncode
        except subprocess.TimeoutExpired:  # run() has killed it (our child, by its PID)
            rc = None
    return rc, err.read_text(errors="replace"), time.monotonic() - t0


def wait_indexed(server: Child, events: EventLog, want: int, deadline: float) -> str:
    """Poll the log until `want` messages were indexed or failed. ok | timeout | server-died"""
    while True:
        events.poll()
        if len(events.indexed) + len(events.failed) >= want:
            return "ok"
        if server.proc.poll() is not None:
            events.poll()
            return "server-died"
        if time.monotonic() > deadline:
            return "timeout"
        time.sleep(POLL_SECONDS)


def search_all(data_dir: Path, env: dict[str, str], limit_pages: int) -> tuple[list[str], int]:
    """Every id `inlet search --to RECIPIENT` returns, following the cursor. (ids, pages)"""
    ids: list[str] = []
    cursor: str | None = None
    for page in range(1, limit_pages + 1):
        argv = [str(VENV_BIN / "inlet"), "search", "--to", RECIPIENT, "--json"]
        argv += ["--limit", str(SEARCH_PAGE), "--data-dir", str(data_dir)]
        if cursor:
            argv += ["--cursor", cursor]
        done = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,  # read to the end by run(): no pipe is left unread
            env=env,
            timeout=SEARCH_TIMEOUT,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"inlet search exited {done.returncode}: {done.stderr.decode()}")
        ids += [json.loads(line)["id"] for line in done.stdout.splitlines() if line.strip()]
        cursor = None
        for line in done.stderr.decode().splitlines():
            if line.startswith(CURSOR_PREFIX):
                cursor = line[len(CURSOR_PREFIX) :].strip()
        if not cursor:
            return ids, page
    raise RuntimeError(f"inlet search still had more after {limit_pages} pages")


def run(args: argparse.Namespace) -> int:
    started = datetime.now(UTC)
    result = Result(messages=args.messages, size=args.size, sessions=args.sessions)
    with tempfile.TemporaryDirectory(prefix="pipeline-latency-") as tmp:
        work = Path(tmp)
        data_dir, logs = work / "data", work / "logs"
        # XDG_STATE_HOME: `inlet up` remembers its data dir there; keep that inside the temp dir.
        env = {**os.environ, "XDG_STATE_HOME": str(work / "state")}
        server: Child | None = None
        receiver: Child | None = None
        try:
            inlet_env = env
            if args.webhook:
                receiver, url = start_receiver(logs, env)
                result.webhook = True
                inlet_env = {
                    **env,
                    "INLET_WEBHOOK_URL": url,
                    "INLET_WEBHOOK_SECRET": WEBHOOK_SECRET,
                }
            server, port = start_inlet(data_dir, logs, inlet_env)
            measure(args, result, server, port, data_dir, logs, env, receiver)
        except RuntimeError as exc:
            result.status = "start-failed" if server is None else result.status
            result.notes.append(str(exc))
        finally:
            if server is not None:
                result.server_rc, result.server_killed = stop(server)
            if receiver is not None:
                stop(receiver)
            if server is not None:
                result.relay = relay_metrics(server.stdout)
                stderr_tail = tail(server.stderr, 3)
                if result.server_rc != 0 or result.server_killed:
                    result.notes.append(
                        f"inlet up exit {result.server_rc}, killed={result.server_killed}: "
                        f"{stderr_tail}"
                    )
            if args.keep:
                kept = Path(tempfile.mkdtemp(prefix="pipeline-latency-kept-"))
                shutil.copytree(work, kept, dirs_exist_ok=True)
                print(f"data dir and logs kept in {kept}")
    report(args, started, result)
    return 0 if result.status == "ok" else 1


def measure(
    args: argparse.Namespace,
    result: Result,
    server: Child,
    port: int,
    data_dir: Path,
    logs: Path,
    env: dict[str, str],
    receiver: Child | None,
) -> None:
    events = EventLog(server.stderr)
    time.sleep(SETTLE_SECONDS)
    events.poll()
    result.idle_rss_mib = vm_hwm_mib(server.pid)
    cpu0 = cpu_seconds(server.pid)
    send_start = time.time()
    print(f"sending {args.messages} x {args.size} B over {args.sessions} sessions ...", flush=True)
    result.client_rc, client_err, result.send_s = send(args, port, logs)
    send_end = time.time()
    result.send_msgs_per_s = args.messages / result.send_s if result.send_s else 0.0
    errors = [line for line in client_err.splitlines() if line.strip()]
    if errors:
        result.notes.append(f"smtp-source: {len(errors)} error lines, first: {errors[0]}")
    if result.client_rc != 0:
        result.status = "client-errors" if result.client_rc is not None else "timeout"
        result.notes.append(f"smtp-source exit {result.client_rc}")
    raw_dir = data_dir / "raw"
    stored = sum(1 for p in raw_dir.rglob("*.eml")) if raw_dir.is_dir() else 0
    print(f"sent in {result.send_s:.2f} s; {stored} stored; waiting for the index ...", flush=True)
    deadline = time.monotonic() + args.timeout
    waited = wait_indexed(server, events, min(stored, args.messages) or args.messages, deadline)
    if receiver is not None and waited == "ok":
        want = len(events.indexed)
        delivered, at = wait_delivered(receiver, want, time.monotonic() + args.timeout)
        result.delivered, result.duplicates = taken(receiver)
        result.delivered_span_s = at - send_start
        result.delivered_per_s = result.delivered / result.delivered_span_s
        if delivered != "ok":
            waited = "webhook-short"
            result.notes.append(f"webhook: {result.delivered} of {want} events taken in time")
    if server.proc.poll() is None:
        result.cpu_s = cpu_seconds(server.pid) - cpu0
        result.peak_rss_mib = vm_hwm_mib(server.pid)
    result.stored = sum(1 for p in raw_dir.rglob("*.eml")) if raw_dir.is_dir() else 0
    result.indexed, result.failed = len(events.indexed), len(events.failed)
    if waited != "ok":
        result.status = waited
        result.notes.append(f"waiting for the index: {waited} ({result.indexed} indexed)")
    summarise(result, events, send_start, send_end)
    for line in events.other_errors[:5]:
        result.notes.append(f"inlet up logged: {line}")
    if events.failed:
        result.notes.append(f"{len(events.failed)} 'processing failed': {events.failed[0]}")
    verify(result, events, data_dir, env)


def summarise(result: Result, events: EventLog, send_start: float, send_end: float) -> None:
    result.latency_ms = latency_summary([float(e["latency_ms"]) for e in events.indexed])
    if events.indexed:
        last = max(event_time(e) for e in events.indexed)
        result.drain_s = last - send_end
        result.index_span_s = last - send_start
        if result.index_span_s > 0:
            result.indexed_msgs_per_s = result.indexed / result.index_span_s
    if result.indexed:
        result.cpu_ms_per_msg = result.cpu_s * 1000 / result.indexed


def verify(result: Result, events: EventLog, data_dir: Path, env: dict[str, str]) -> None:
    """Every message the relay stored must be findable with `inlet search`; say so loudly."""
    pages = result.messages // SEARCH_PAGE + 5
    try:
        ids, result.search_pages = search_all(data_dir, env, pages)
    except (RuntimeError, subprocess.TimeoutExpired, ValueError, KeyError) as exc:
        result.status = "not-searchable"
        result.notes.append(f"FAIL: inlet search: {exc}")
        return
    found = set(ids)
    result.searchable = len(found)
    indexed = {e["message_id"] for e in events.indexed}
    problems = []
    if len(found) != result.messages:
        problems.append(f"{len(found)} searchable of {result.messages} sent")
    if len(ids) != len(found):
        problems.append(f"{len(ids) - len(found)} duplicate ids across pages")
    if indexed - found:
        problems.append(f"{len(indexed - found)} indexed ids not returned by search")
    if result.stored != result.messages:
        problems.append(f"{result.stored} stored of {result.messages} sent")
    if problems:
        if result.status == "ok":
            result.status = "not-searchable"
        result.notes.append("FAIL: " + "; ".join(problems))


# -- output ------------------------------------------------------------------------------


def fmt(value: float | None, digits: int = 1, unit: str = "") -> str:
    return "-" if value is None else f"{value:.{digits}f}{unit}"


def report(args: argparse.Namespace, started: datetime, r: Result) -> None:
    print()
    print(f"Inlet pipeline latency, {started:%Y-%m-%d %H:%M:%S} UTC")
    print(f"nproc={os.cpu_count()}  python={platform.python_version()}  {cpu_model()}")
    print(
        f"load: smtp-source -s {r.sessions} -m {r.messages} -l {r.size} (one connection per "
        f"message) -> inlet up (relay + parse + SQLite index in one process), all on {HOST}"
    )
    print("latency = inlet's latency_ms: from the relay's 250 (stored hook) to the index commit")
    lat = r.latency_ms
    print("\n== end-to-end latency, SMTP 250 -> searchable (ms) ==")
    header = ("messages", "p50", "p90", "p99", "max", "min", "mean")
    row = [str(r.indexed), *(fmt(lat.get(k)) for k in ("p50", "p90", "p99", "max", "min"))]
    print(table(header, [[*row, fmt(lat.get("mean"))]]))
    print("\n== throughput and cost ==")
    rows = [
        [
            "sent / stored / indexed / failed",
            f"{r.messages} / {r.stored} / {r.indexed} / {r.failed}",
        ],
        ["send duration (smtp-source wall)", f"{r.send_s:.2f} s ({r.send_msgs_per_s:.1f} msgs/s)"],
        ["drain after the last send", fmt(r.drain_s, 2, " s")],
        ["send start -> last index commit", fmt(r.index_span_s, 2, " s")],
        ["indexed throughput", fmt(r.indexed_msgs_per_s, 1, " msgs/s")],
        ["inlet up CPU per message", fmt(r.cpu_ms_per_msg, 3, " ms")],
        ["inlet up VmHWM idle -> peak", f"{r.idle_rss_mib:.1f} -> {r.peak_rss_mib:.1f} MiB"],
        ["searchable (inlet search --to)", f"{r.searchable} in {r.search_pages} page(s)"],
        *(
            [
                ["webhook: taken / duplicates", f"{r.delivered} / {r.duplicates}"],
                ["send start -> last delivery", fmt(r.delivered_span_s, 2, " s")],
                ["webhook deliveries", fmt(r.delivered_per_s, 1, " /s")],
            ]
            if r.webhook
            else []
        ),
        ["relay replies after DATA", replies(r.relay)],
        ["status", r.status],
    ]
    print(table(("figure", "value"), rows))
    print("\n== anchors (bench/README.md, section Anchors; CPU ms per 10 KiB msg, 20 sessions) ==")
    print(f"  stock aiosmtpd, discard: {ANCHORS['stock_aiosmtpd_10k_cpu_ms']:g} ms")
    print(f"  aiosmtpd + boto3 put_object -> moto: {ANCHORS['naive_s3_10k_cpu_ms']:g} ms")
    print(f"  stdlib parse + get_content, plain ~12 KB: {ANCHORS['stdlib_parse_plain_msgs_s']:g}/s")
    print("\n== notes ==")
    print("\n".join(f"  {n}" for n in r.notes) if r.notes else "  none")
    path = write_json(args, started, r)
    print(f"\nJSON: {path}")
    if r.status != "ok":
        print(f"\nFAILED: {r.status}", file=sys.stderr)


def replies(metrics: dict[str, Any]) -> str:
    codes = metrics.get("Replies") or {}
    return ", ".join(f"{code} x{n}" for code, n in sorted(codes.items())) or "-"


def write_json(args: argparse.Namespace, started: datetime, r: Result) -> Path:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    path = OUT_DIR / f"latency-{started:%Y%m%dT%H%M%SZ}.json"
    doc = {
        "started": started.isoformat(),
        "command": [sys.executable, *sys.argv],
        "machine": {"nproc": os.cpu_count(), "cpu": cpu_model(), "python": sys.version},
        "params": vars(args),
        "anchors": {"source": "bench/README.md#anchors", **ANCHORS},
        "result": asdict(r),
    }
    path.write_text(json.dumps(doc, indent=2) + "\n")
    return path


# -- entry point -------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--messages", type=int, default=1000, help="messages to send (1000)")
    p.add_argument("--size", type=int, default=10240, help="payload bytes, smtp-source -l (10240)")
    p.add_argument("--sessions", type=int, default=10, help="parallel SMTP sessions (10)")
    p.add_argument(
        "--timeout",
        type=float,
        default=300,
        help="seconds for the send, and again for the index to catch up (300)",
    )
    p.add_argument(
        "--webhook",
        action="store_true",
        help="deliver every event to examples/webhook_receiver.py and wait for it",
    )
    p.add_argument("--keep", action="store_true", help="keep the data dir and logs")
    args = p.parse_args(argv)
    if args.messages < 1 or args.size < 1 or args.sessions < 1:
        p.error("--messages, --size and --sessions must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return run(args)
    finally:
        for child in list(LIVE):
            stop(child, timeout=10)


if __name__ == "__main__":
    sys.exit(main())
