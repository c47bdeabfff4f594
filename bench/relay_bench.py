"""Relay benchmark: the Inlet relay against a naive aiosmtpd -> boto3 peer and smtp-sink.

Configurations, all loaded by postfix's `smtp-source` over 127.0.0.1 in one run:

  (a) inlet-s3   `inlet relay --bucket` -> S3 on a local `moto_server`
  (b) naive-s3   stock aiosmtpd whose handle_DATA put_object()s `original_content` from a
                 20-thread pool (one shared boto3 client) -> the same moto_server
  (c) inlet-fs   `inlet relay --data-dir` -> the filesystem adapter in a temp dir
  (d) smtp-sink  postfix's smtp-sink, the machine's ceiling

Every (config, load, round) gets a fresh server process. Server CPU (utime+stime from
/proc/PID/stat) is the delta over the load alone; memory is VmHWM from /proc/PID/status, read
once right after start-up (idle) and once just before the server is stopped with SIGTERM.
Accepted messages are what the server stored (S3 objects under raw/, files under DATA_DIR/raw)
or counted (smtp-sink's -c counter). Results go to stdout and bench/out/relay-<timestamp>.json.

Usage: .venv/bin/python bench/relay_bench.py [--quick] [--rounds N] [--configs a,b,c,d]
The naive peer runs as `relay_bench.py --naive-server --port P --bucket B` (started by the bench).
"""

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
BENCH_DIR = Path(__file__).resolve().parent
OUT_DIR = BENCH_DIR / "out"
VENV_BIN = Path(sys.executable).parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
MIB = 1024 * 1024
SENDER = "sender@example.org"
RECIPIENT = "rcpt@example.com"
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}
MAX_MESSAGE_SIZE = 60 * MIB  # the relay's default is 40 MiB; the 50 MiB load must fit
NAIVE_THREADS = 20
START_TIMEOUT = 30.0
STOP_TIMEOUT = 60.0  # the relay drains for up to 30 s (its default drain_seconds)
SETTLE_SECONDS = 0.3

# Anchors measured before any project code existed: see bench/README.md, "Anchors"
# (medians over 5 interleaved rounds; server CPU ms/msg and VmHWM per server process).
ANCHORS: dict[str, float] = {
    "sink_10k_s20_msgs_per_s": 9069.4,  # sink, source, 10K, s20
    "sink_10k_s20_cpu_ms": 0.102,  # sink, source, 10K, s20
    "naive_s3_10k_cpu_ms": 3.048,  # aiosmtpd-s3, source, 10K, s20
    "naive_s3_1m_cpu_ms": 27.56,  # aiosmtpd-s3, source, 1M, s10
    "stock_aiosmtpd_50m_growth_mib": 205.0,  # aiosmtpd, source, 50M: 229.1 - 23.8 MiB
}


# -- loads and results -------------------------------------------------------------------


@dataclass(frozen=True)
class Load:
    key: str
    size: int  # smtp-source -l
    sessions: int  # smtp-source -s
    messages: int  # smtp-source -m

    @property
    def title(self) -> str:
        return f"{_size_name(self.size)} x {self.sessions} sessions x {self.messages} msgs"


def _size_name(size: int) -> str:
    for unit, name in ((MIB, "MiB"), (1024, "KiB")):
        if size >= unit and size % unit == 0:
            return f"{size // unit} {name}"
    return f"{size} B"


@dataclass
class Result:
    config: str
    load: str
    round: int
    status: str = "ok"  # ok | timeout | client-errors | short | start-failed | server-died
    sent: int = 0
    accepted: int = 0
    wall_s: float = 0.0
    msgs_per_s: float = 0.0
    mb_per_s: float = 0.0
    cpu_ms_per_msg: float | None = None
    client_cpu_ms_per_msg: float | None = None
    moto_cpu_ms_per_msg: float | None = None
    idle_rss_mib: float = 0.0
    peak_rss_mib: float = 0.0
    rss_growth_mib: float = 0.0
    client_rc: int | None = None
    server_rc: int | None = None
    server_killed: bool = False
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


# -- processes ---------------------------------------------------------------------------


@dataclass
class Child:
    name: str
    proc: "subprocess.Popen[bytes]"
    stdout: Path
    stderr: Path

    @property
    def pid(self) -> int:
        return self.proc.pid


LIVE: list[Child] = []  # children still running; stopped in main()'s finally


def spawn(name: str, argv: Sequence[str], logs: Path, env: dict[str, str] | None = None) -> Child:
    """Start a child with stdout and stderr in files (never an unread pipe)."""
    logs.mkdir(parents=True, exist_ok=True)
    out, err = logs / f"{name}.out", logs / f"{name}.err"
    with out.open("wb") as fo, err.open("wb") as fe:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=fo,
            stderr=fe,
            env=env,
            start_new_session=True,  # a ^C to the bench reaches only the bench
        )
    child = Child(name, proc, out, err)
    LIVE.append(child)
    return child


def stop(child: Child, timeout: float = STOP_TIMEOUT) -> tuple[int | None, bool]:
    """SIGTERM the child by its PID, wait; SIGKILL after `timeout`. (exit code, killed?)"""
    killed = False
    if child.proc.poll() is None:
        child.proc.send_signal(signal.SIGTERM)
        try:
            child.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            child.proc.kill()
            killed = True
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.proc.wait(10)
    if child in LIVE:
        LIVE.remove(child)
    return child.proc.returncode, killed


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((HOST, port)) == 0


def wait_ready(child: Child, ready: Callable[[], bool], timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.proc.poll() is not None:
            raise RuntimeError(f"{child.name} exited {child.proc.returncode}: {tail(child.stderr)}")
        if ready():
            return
        time.sleep(0.05)
    raise RuntimeError(f"{child.name} not ready after {timeout:.0f} s: {tail(child.stderr)}")


def stdout_has(child: Child, prefix: bytes) -> Callable[[], bool]:
    return lambda: any(line.startswith(prefix) for line in child.stdout.read_bytes().splitlines())


def tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return " | ".join(text.strip().splitlines()[-lines:])


# -- /proc -------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process (not its children)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # fields from 3 (state) on
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def status_mib(pid: int, name: str) -> float:
    """A size field of /proc/<pid>/status (VmHWM, VmRSS, ...), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {name} for pid {pid}")


def vm_hwm_mib(pid: int) -> float:
    return status_mib(pid, "VmHWM")


@dataclass
class ChildRun:
    """A measuring child's outcome: "ok" with the last JSON line it printed, or why not."""

    status: str  # ok | timeout | failed
    figures: dict[str, Any] = field(default_factory=dict)
    note: str = ""


def run_json_child(
    argv: list[str], out: Path, err: Path, *, timeout: float, cwd: Path,
    env: dict[str, str] | None = None,
) -> ChildRun:  # fmt: skip
    """Run a bench's own child process (output to `out`/`err`), bounded by `timeout` (run()
    kills it, by its PID, when it expires); its figures are the last stdout line that is JSON."""
    with out.open("wb") as fo, err.open("wb") as fe:
        try:
            rc = subprocess.run(
                argv, stdin=subprocess.DEVNULL, stdout=fo, stderr=fe, env=env, cwd=cwd,
                timeout=timeout, check=False,
            ).returncode  # fmt: skip
        except subprocess.TimeoutExpired:
            return ChildRun("timeout", note=f"killed after {timeout:.0f} s")
    lines = [line for line in out.read_text().splitlines() if line.startswith("{")]
    if rc != 0 or not lines:
        stderr = err.read_text(errors="replace").strip().splitlines()
        return ChildRun("failed", note=f"child exited {rc}: {' | '.join(stderr[-3:])}")
    return ChildRun("ok", json.loads(lines[-1]))


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# -- moto and S3 -------------------------------------------------------------------------


class Moto:
    """One moto_server for the run; each measurement gets its own bucket, deleted after."""

    def __init__(self, logs: Path) -> None:
        self.port = free_port()
        self.endpoint = f"http://{HOST}:{self.port}"
        self.child = spawn(
            "moto", [str(VENV_BIN / "moto_server"), "-H", HOST, "-p", str(self.port)], logs
        )
        wait_ready(self.child, partial(port_open, self.port))
        self.client = _s3_client(self.endpoint)
        wait_ready(self.child, self._answers)

    def _answers(self) -> bool:
        try:
            self.client.list_buckets()
        except Exception:
            return False
        return True

    def env(self) -> dict[str, str]:
        return {**os.environ, **AWS_ENV, "AWS_ENDPOINT_URL_S3": self.endpoint}

    def cpu(self) -> float:
        return cpu_seconds(self.child.pid)

    def count(self, bucket: str, prefix: str, limit: int) -> int:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=prefix, PaginationConfig={"MaxItems": limit + 1000}
        )
        return sum(len(page.get("Contents", [])) for page in pages)

    def open_uploads(self, bucket: str) -> int:
        return len(self.client.list_multipart_uploads(Bucket=bucket).get("Uploads", []))

    def drop(self, bucket: str) -> None:
        """Empty and delete a bucket, so moto's memory does not grow over the run."""
        for upload in self.client.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
            self.client.abort_multipart_upload(
                Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"]
            )
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            keys = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
            if keys:
                self.client.delete_objects(Bucket=bucket, Delete={"Objects": keys})
        self.client.delete_bucket(Bucket=bucket)


def _s3_client(endpoint: str | None) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=AWS_ENV["AWS_REGION"],
        aws_access_key_id=AWS_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=AWS_ENV["AWS_SECRET_ACCESS_KEY"],
        config=Config(retries={"mode": "standard", "max_attempts": 3}),
    )


# -- the configurations ------------------------------------------------------------------


@dataclass
class Slot:
    """What one measurement's server gets: ports, a scratch dir, and its bucket if any."""

    logs: Path
    scratch: Path
    port: int = field(default_factory=free_port)
    health_port: int = field(default_factory=free_port)
    bucket: str = ""


class Target(ABC):
    key = ""
    label = ""
    uses_moto = False
    clean_exits: tuple[int, ...] = (0,)

    def __init__(self, moto: Moto | None) -> None:
        self.moto = moto

    def prepare(self, slot: Slot) -> None:
        if self.uses_moto:
            assert self.moto is not None
            slot.bucket = f"bench-{self.key}-{uuid.uuid4().hex[:12]}"
            self.moto.client.create_bucket(Bucket=slot.bucket)

    @abstractmethod
    def start(self, slot: Slot) -> Child: ...

    def ready(self, slot: Slot, server: Child) -> Callable[[], bool]:
        return stdout_has(server, b"inlet relay: SMTP on ")

    @abstractmethod
    def accepted(self, slot: Slot, server: Child, sent: int) -> int: ...

    def details(self, slot: Slot, server: Child) -> dict[str, Any]:
        """Extra facts for the JSON (left-over uploads or temp files, relay metrics)."""
        return {}

    def cleanup(self, slot: Slot) -> None:
        if self.uses_moto and slot.bucket:
            assert self.moto is not None
            self.moto.drop(slot.bucket)
        shutil.rmtree(slot.scratch, ignore_errors=True)


def _inlet_argv(slot: Slot, store: list[str]) -> list[str]:
    return [
        str(VENV_BIN / "inlet"),
        "relay",
        "--domains=example.com",
        f"--smtp-host={HOST}",
        f"--smtp-port={slot.port}",
        f"--health-port={slot.health_port}",
        "--hostname=bench.local",
        "--metrics-interval=3600",
        "--log-level=WARNING",
        f"--max-message-size={MAX_MESSAGE_SIZE}",
        *store,
    ]


def relay_metrics(stdout: Path) -> dict[str, Any]:
    """Sum the relay's EMF documents (written at shutdown, given --metrics-interval 3600)."""
    totals: dict[str, Any] = {"MessagesStored": 0, "StoreFailures": 0, "Replies": {}}
    for line in stdout.read_text(errors="replace").splitlines():
        if not line.startswith("{"):
            continue
        doc = json.loads(line)
        for name in ("MessagesStored", "StoreFailures"):
            totals[name] += int(doc.get(name, 0))
        if "ReplyCode" in doc:
            code = str(doc["ReplyCode"])
            totals["Replies"][code] = totals["Replies"].get(code, 0) + int(doc["Replies"])
    return totals


class InletS3(Target):
    key, label, uses_moto = "a", "inlet-s3", True

    def start(self, slot: Slot) -> Child:
        assert self.moto is not None
        argv = _inlet_argv(slot, [f"--bucket={slot.bucket}"])
        return spawn("inlet-s3", argv, slot.logs, env=self.moto.env())

    def accepted(self, slot: Slot, server: Child, sent: int) -> int:
        assert self.moto is not None
        return self.moto.count(slot.bucket, "raw/", sent)

    def details(self, slot: Slot, server: Child) -> dict[str, Any]:
        assert self.moto is not None
        return {
            "open_multipart_uploads": self.moto.open_uploads(slot.bucket),
            "relay_metrics": relay_metrics(server.stdout),
        }


class NaiveS3(Target):
    key, label, uses_moto = "b", "naive-s3", True

    def start(self, slot: Slot) -> Child:
        assert self.moto is not None
        argv = [sys.executable, str(Path(__file__).resolve()), "--naive-server"]
        argv += ["--port", str(slot.port), "--bucket", slot.bucket]
        return spawn("naive-s3", argv, slot.logs, env=self.moto.env())

    def ready(self, slot: Slot, server: Child) -> Callable[[], bool]:
        return stdout_has(server, b"naive: SMTP on ")

    def accepted(self, slot: Slot, server: Child, sent: int) -> int:
        assert self.moto is not None
        return self.moto.count(slot.bucket, "raw/", sent)


class InletFs(Target):
    key, label = "c", "inlet-fs"

    def start(self, slot: Slot) -> Child:
        data_dir = slot.scratch / "data"
        return spawn("inlet-fs", _inlet_argv(slot, [f"--data-dir={data_dir}"]), slot.logs)

    def accepted(self, slot: Slot, server: Child, sent: int) -> int:
        raw = slot.scratch / "data" / "raw"
        return sum(1 for p in raw.rglob("*") if p.is_file()) if raw.is_dir() else 0

    def details(self, slot: Slot, server: Child) -> dict[str, Any]:
        tmp = slot.scratch / "data" / ".tmp"
        leftover = sum(1 for p in tmp.rglob("*") if p.is_file()) if tmp.is_dir() else 0
        return {"leftover_tmp_files": leftover, "relay_metrics": relay_metrics(server.stdout)}


class Sink(Target):
    key, label = "d", "smtp-sink"
    clean_exits = (0, -signal.SIGTERM)  # smtp-sink has no SIGTERM handler: it just dies

    def start(self, slot: Slot) -> Child:
        argv = [shutil.which("smtp-sink") or "smtp-sink"]
        if os.geteuid() == 0:
            argv += ["-u", "nobody"]  # smtp-sink refuses to run as root without -u
        # -c writes a counter on every event: stdout goes to a file (a pipe stalls it).
        return spawn("smtp-sink", [*argv, "-c", f"{HOST}:{slot.port}", "1000"], slot.logs)

    def ready(self, slot: Slot, server: Child) -> Callable[[], bool]:
        return partial(port_open, slot.port)

    def accepted(self, slot: Slot, server: Child, sent: int) -> int:
        counts = re.findall(rb"mesg=(\d+)", server.stdout.read_bytes())
        return int(counts[-1]) if counts else 0


TARGETS: dict[str, type[Target]] = {t.key: t for t in (InletS3, NaiveS3, InletFs, Sink)}


# -- one measurement ---------------------------------------------------------------------


@dataclass
class Sample:
    server_cpu: float
    moto_cpu: float | None
    client_cpu: float
    clock: float


def sample(server: Child, moto: Moto | None) -> Sample:
    return Sample(
        server_cpu=cpu_seconds(server.pid),
        moto_cpu=moto.cpu() if moto else None,
        client_cpu=children_cpu_seconds(),
        clock=time.monotonic(),
    )


def smtp_source(load: Load, port: int, logs: Path, timeout: float) -> tuple[int | None, str]:
    """Run the client to completion (or kill it at the timeout). (exit code, error lines)"""
    argv = [shutil.which("smtp-source") or "smtp-source", "-s", str(load.sessions)]
    argv += ["-l", str(load.size), "-m", str(load.messages), "-f", SENDER, "-t", RECIPIENT]
    argv.append(f"{HOST}:{port}")
    err = logs / "smtp-source.err"
    with (logs / "smtp-source.out").open("wb") as fo, err.open("wb") as fe:
        try:
            rc: int | None = subprocess.run(
                argv, stdin=subprocess.DEVNULL, stdout=fo, stderr=fe, timeout=timeout, check=False
            ).returncode
        except subprocess.TimeoutExpired:  # run() has killed it (our child, by its PID)
            rc = None
    return rc, err.read_text(errors="replace")


def measure(target: Target, load: Load, rnd: int, workdir: Path, timeout: float) -> Result:
    result = Result(config=target.label, load=load.key, round=rnd, sent=load.messages)
    name = f"r{rnd}-{load.key}-{target.key}"
    slot = Slot(logs=workdir / "logs" / name, scratch=workdir / "data" / name)
    try:
        target.prepare(slot)
        server = target.start(slot)
        try:
            wait_ready(server, target.ready(slot, server))
            _load_server(result, target, load, server, slot, timeout)
        except RuntimeError as exc:
            result.status = "start-failed"
            result.notes.append(str(exc))
            return result
        finally:
            result.server_rc, result.server_killed = stop(server)
        _account(result, target, load, server, slot)
    finally:
        target.cleanup(slot)
    return result


def _load_server(
    result: Result, target: Target, load: Load, server: Child, slot: Slot, timeout: float
) -> None:
    time.sleep(SETTLE_SECONDS)
    result.idle_rss_mib = vm_hwm_mib(server.pid)
    moto = target.moto if target.uses_moto else None
    before = sample(server, moto)
    result.client_rc, client_err = smtp_source(load, slot.port, slot.logs, timeout)
    if server.proc.poll() is not None:
        result.status = "server-died"
        result.notes.append(f"server exited {server.proc.returncode}: {tail(server.stderr)}")
        return
    after = sample(server, moto)
    result.peak_rss_mib = vm_hwm_mib(server.pid)
    result.wall_s = after.clock - before.clock
    result.extra["server_cpu_s"] = after.server_cpu - before.server_cpu
    result.extra["client_cpu_s"] = after.client_cpu - before.client_cpu
    if moto is not None and after.moto_cpu is not None and before.moto_cpu is not None:
        result.extra["moto_cpu_s"] = after.moto_cpu - before.moto_cpu
    if result.client_rc is None:
        result.status = "timeout"
        result.notes.append(f"smtp-source killed after {timeout:.0f} s")
    errors = [line for line in client_err.splitlines() if line.strip()]
    if errors:
        result.extra["client_error_lines"] = len(errors)
        result.notes.append(f"smtp-source: {len(errors)} error lines, first: {errors[0]}")
        result.notes.extend(f"smtp-source: {line}" for line in errors[1:4])
    if result.client_rc not in (0, None):
        result.notes.append(f"smtp-source exited {result.client_rc}")
        result.status = "client-errors"


def _account(result: Result, target: Target, load: Load, server: Child, slot: Slot) -> None:
    if result.server_rc not in target.clean_exits or result.server_killed:
        result.notes.append(
            f"server exit {result.server_rc}, killed={result.server_killed}: {tail(server.stderr)}"
        )
    stderr = server.stderr.read_text(errors="replace").strip()
    if stderr:
        result.extra["server_stderr_lines"] = len(stderr.splitlines())
        result.notes.append(
            f"server stderr ({len(stderr.splitlines())} lines): {tail(server.stderr, 3)}"
        )
    result.accepted = target.accepted(slot, server, load.messages)
    result.extra.update(target.details(slot, server))
    if result.status == "ok" and result.accepted != load.messages:
        result.status = "short"
        result.notes.append(f"accepted {result.accepted} of {load.messages}")
    _derive(result, load)


def _derive(result: Result, load: Load) -> None:
    if result.wall_s <= 0:
        return
    result.msgs_per_s = result.accepted / result.wall_s
    result.mb_per_s = result.accepted * load.size / result.wall_s / 1e6
    result.rss_growth_mib = result.peak_rss_mib - result.idle_rss_mib
    if result.accepted:
        per_msg = 1000 / result.accepted
        result.cpu_ms_per_msg = result.extra["server_cpu_s"] * per_msg
        result.client_cpu_ms_per_msg = result.extra["client_cpu_s"] * per_msg
        if "moto_cpu_s" in result.extra:
            result.moto_cpu_ms_per_msg = result.extra["moto_cpu_s"] * per_msg


# -- summaries ---------------------------------------------------------------------------


def spread(values: Iterable[float | None], digits: int = 2) -> str:
    """'median (min-max)' over rounds; a single value alone; '-' when there is none."""
    vals = [v for v in values if v is not None]
    if not vals:
        return "-"
    if len(vals) == 1:
        return f"{vals[0]:.{digits}f}"
    return f"{statistics.median(vals):.{digits}f} ({min(vals):.{digits}f}-{max(vals):.{digits}f})"


def median(values: Iterable[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def pick(results: Sequence[Result], config: str, load: str) -> list[Result]:
    return [r for r in results if r.config == config and r.load == load]


LOAD_HEADER = (
    "config",
    "n",
    "accepted",
    "msgs/s",
    "MB/s",
    "CPU ms/msg",
    "moto ms/msg",
    "client ms/msg",
    "idle RSS MiB",
    "peak RSS MiB",
    "RSS growth MiB",
    "status",
)


def load_rows(results: Sequence[Result], load: Load, targets: Sequence[Target]) -> list[list[str]]:
    rows = []
    for t in targets:
        rs = pick(results, t.label, load.key)
        if not rs:
            continue
        statuses = sorted({r.status for r in rs})
        rows.append(
            [
                f"({t.key}) {t.label}",
                str(len(rs)),
                accepted_cell([r.accepted for r in rs], load.messages),
                spread([r.msgs_per_s for r in rs], 1),
                spread([r.mb_per_s for r in rs], 2),
                spread([r.cpu_ms_per_msg for r in rs], 3),
                spread([r.moto_cpu_ms_per_msg for r in rs], 3),
                spread([r.client_cpu_ms_per_msg for r in rs], 3),
                spread([r.idle_rss_mib for r in rs], 1),
                spread([r.peak_rss_mib for r in rs], 1),
                spread([r.rss_growth_mib for r in rs], 1),
                ",".join(statuses),
            ]
        )
    return rows


def accepted_cell(counts: Sequence[int], sent: int) -> str:
    low, high = min(counts), max(counts)
    return f"{low}/{sent}" if low == high else f"{low}-{high}/{sent}"


def check_lines(results: Sequence[Result], load: Load) -> list[str]:
    """What the relay itself reported (its EMF metrics at shutdown) and what it left behind."""
    lines = []
    for label in ("inlet-s3", "inlet-fs"):
        rs = pick(results, label, load.key)
        replies: dict[str, int] = {}
        failures = leftovers = 0
        for r in rs:
            metrics = r.extra.get("relay_metrics", {})
            for code, n in metrics.get("Replies", {}).items():
                replies[code] = replies.get(code, 0) + n
            failures += metrics.get("StoreFailures", 0)
            leftovers += r.extra.get("open_multipart_uploads", 0)
            leftovers += r.extra.get("leftover_tmp_files", 0)
        if rs:
            codes = ", ".join(f"{code} x{n}" for code, n in sorted(replies.items())) or "none"
            lines.append(
                f"  {label} replies after DATA: {codes}; store failures {failures}; "
                f"open uploads / temp files left {leftovers}"
            )
    return lines


def paired_ratio(
    results: Sequence[Result], load: str, num: str, den: str, attr: str
) -> list[float]:
    """num/den per round, for rounds where both ran and the denominator is non-zero."""
    by_round = {r.round: r for r in pick(results, den, load)}
    ratios = []
    for r in pick(results, num, load):
        other = by_round.get(r.round)
        a, b = getattr(r, attr), getattr(other, attr) if other else None
        if a is not None and b:
            ratios.append(a / b)
    return ratios


RATIOS: tuple[tuple[str, str, str, str], ...] = (
    ("msgs/s (a)/(b) inlet-s3 / naive-s3", "inlet-s3", "naive-s3", "msgs_per_s"),
    ("msgs/s (c)/(d) inlet-fs / smtp-sink", "inlet-fs", "smtp-sink", "msgs_per_s"),
    ("CPU ms/msg (a)/(b) inlet-s3 / naive-s3", "inlet-s3", "naive-s3", "cpu_ms_per_msg"),
)


def ratio_lines(results: Sequence[Result], load: Load) -> list[str]:
    lines = []
    for title, num, den, attr in RATIOS:
        ratios = paired_ratio(results, load.key, num, den, attr)
        if ratios:
            lines.append(f"  {title}: {spread(ratios, 3)}  (paired per round)")
    return lines


@dataclass(frozen=True)
class Goal:
    title: str
    config: str
    load: str
    metric: str
    limit: float
    unit: str
    anchor: float
    anchor_text: str


GOALS = (
    Goal("(a) CPU per 10 KiB msg", "inlet-s3", "10k", "cpu_ms_per_msg", 1.5, "ms", 3.048, "naive"),
    Goal("(a) CPU per 1 MiB msg", "inlet-s3", "1m", "cpu_ms_per_msg", 6.0, "ms", 27.56, "naive"),
    *(
        Goal(
            f"{tag} 50 MiB peak RSS - idle",
            cfg,
            "50m",
            "rss_growth_mib",
            16.0,
            "MiB",
            205.0,
            "stock",
        )
        for tag, cfg in (("(a)", "inlet-s3"), ("(c)", "inlet-fs"))
    ),
)
# The naive peer measured in this run, next to each goal's anchor.
NAIVE_FOR_GOAL = {"cpu_ms_per_msg": "naive-s3", "rss_growth_mib": "naive-s3"}


def goal_rows(results: Sequence[Result]) -> tuple[list[list[str]], list[dict[str, Any]]]:
    rows, records = [], []
    for g in GOALS:
        rs = [r for r in pick(results, g.config, g.load) if r.status != "start-failed"]
        measured = median(getattr(r, g.metric) for r in rs)
        peer = pick(results, NAIVE_FOR_GOAL[g.metric], g.load)
        verdict = "n/a" if measured is None else ("PASS" if measured <= g.limit else "MISS")
        if verdict == "PASS" and any(r.status != "ok" for r in rs):
            verdict = "PASS*"  # the figure passes but some run was not clean: see notes
        rows.append(
            [
                g.title,
                f"<= {g.limit:g} {g.unit}",
                f"{g.anchor:g} {g.unit} ({g.anchor_text})",
                spread([getattr(r, g.metric) for r in peer], 3) + f" {g.unit}",
                spread([getattr(r, g.metric) for r in rs], 3) + f" {g.unit}",
                verdict,
            ]
        )
        records.append({**asdict(g), "measured_median": measured, "verdict": verdict})
    return rows, records


# -- the run -----------------------------------------------------------------------------


def make_loads(args: argparse.Namespace) -> list[Load]:
    scale = 10 if args.quick else 1
    loads = [
        Load("10k", 10 * 1024, 20, args.msgs_10k or 5000 // scale),
        Load("1m", MIB, 10, args.msgs_1m or 500 // scale),
        Load("50m", 50 * MIB, 1, args.msgs_50m or 1),
    ]
    wanted = set(args.loads.split(","))
    return [load for load in loads if load.key in wanted and load.messages > 0]


def run(args: argparse.Namespace) -> int:
    loads = make_loads(args)
    keys = [k for k in args.configs.split(",") if k]
    unknown = [k for k in keys if k not in TARGETS]
    if unknown or not loads:
        print(f"relay_bench: unknown config {unknown} or no load selected", file=sys.stderr)
        return 2
    started = datetime.now(UTC)
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="relay-bench-") as tmp:
        workdir = Path(tmp)
        moto = Moto(workdir / "moto") if any(TARGETS[k].uses_moto for k in keys) else None
        targets = [TARGETS[k](moto) for k in keys]
        try:
            for rnd in range(1, args.rounds + 1):
                for load in loads:
                    for target in rotate(targets, rnd - 1):
                        results.append(measure(target, load, rnd, workdir, args.timeout))
                        progress(results[-1])
        finally:
            if moto is not None:
                stop(moto.child)
            if args.keep:
                kept = Path(tempfile.mkdtemp(prefix="relay-bench-kept-"))
                shutil.copytree(workdir, kept, dirs_exist_ok=True)
                print(f"logs kept in {kept}")
    report(args, started, loads, targets, results)
    return 0


def rotate(items: Sequence[Target], by: int) -> list[Target]:
    """Each round starts with the next config, so run order drifts evenly over configs."""
    k = by % len(items)
    return [*items[k:], *items[:k]]


def progress(r: Result) -> None:
    cpu = f"{r.cpu_ms_per_msg:.3f}" if r.cpu_ms_per_msg is not None else "-"
    print(
        f"[round {r.round}] {r.load:>3} {r.config:<9} {r.status:<13} "
        f"{r.accepted}/{r.sent} msgs  {r.msgs_per_s:8.1f} msg/s  cpu {cpu} ms/msg  "
        f"rss {r.idle_rss_mib:.1f}->{r.peak_rss_mib:.1f} MiB",
        flush=True,
    )
    for note in r.notes:
        print(f"    note: {note}", flush=True)


def report(
    args: argparse.Namespace,
    started: datetime,
    loads: Sequence[Load],
    targets: Sequence[Target],
    results: Sequence[Result],
) -> None:
    print()
    print(f"Inlet relay bench, {started:%Y-%m-%d %H:%M:%S} UTC, rounds={args.rounds}")
    print(f"nproc={os.cpu_count()}  python={platform.python_version()}  {cpu_model()}")
    print("cells: median (min-max) over rounds; CPU = server process utime+stime over the load;")
    print("RSS = VmHWM; MB/s = accepted x size / wall, 1 MB = 10^6 B")
    for load in loads:
        print(f"\n== {load.key}: {load.title} ==")
        print(table(LOAD_HEADER, load_rows(results, load, targets)))
        for line in [*ratio_lines(results, load), *check_lines(results, load)]:
            print(line)
    rows, goals = goal_rows(results)
    print("\n== targets ==")
    header = ("target", "goal", "anchor", "naive-s3 here", "measured", "verdict")
    print(table(header, rows))
    print("\n== anchors (bench/README.md, section Anchors; medians of 5 runs) ==")
    sink_rate, sink_cpu = ANCHORS["sink_10k_s20_msgs_per_s"], ANCHORS["sink_10k_s20_cpu_ms"]
    print(f"  smtp-sink 10K s20: {sink_rate:g} msg/s, {sink_cpu:g} ms CPU/msg")
    print(f"  aiosmtpd-s3 (naive) 10K s20: {ANCHORS['naive_s3_10k_cpu_ms']:g} ms CPU/msg")
    print(f"  aiosmtpd-s3 (naive) 1M s10: {ANCHORS['naive_s3_1m_cpu_ms']:g} ms CPU/msg")
    growth = ANCHORS["stock_aiosmtpd_50m_growth_mib"]
    print(f"  stock aiosmtpd 50M s1: +{growth:g} MiB VmHWM over idle")
    notes = [f"  [round {r.round}] {r.load} {r.config}: {n}" for r in results for n in r.notes]
    print("\n== notes (errors, refusals, timeouts, unclean exits) ==")
    print("\n".join(notes) if notes else "  none")
    path = write_json(args, started, loads, results, goals)
    print(f"\nJSON: {path}")


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor()


def write_json(
    args: argparse.Namespace,
    started: datetime,
    loads: Sequence[Load],
    results: Sequence[Result],
    goals: list[dict[str, Any]],
) -> Path:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    path = OUT_DIR / f"relay-{started:%Y%m%dT%H%M%SZ}.json"
    doc = {
        "started": started.isoformat(),
        "command": [sys.executable, *sys.argv],
        "machine": {"nproc": os.cpu_count(), "cpu": cpu_model(), "python": sys.version},
        "params": {k: v for k, v in vars(args).items() if k != "naive_server"},
        "loads": [asdict(load) for load in loads],
        "anchors": {"source": "bench/README.md#anchors", **ANCHORS},
        "results": [asdict(r) for r in results],
        "ratios": {
            load.key: {
                title: paired_ratio(results, load.key, num, den, attr)
                for title, num, den, attr in RATIOS
            }
            for load in loads
        },
        "targets": goals,
    }
    path.write_text(json.dumps(doc, indent=2) + "\n")
    return path


# -- the naive peer (b), run as its own process ------------------------------------------


class NaiveHandler:
    """Stock aiosmtpd handler: the whole message in memory, one put_object in a thread."""

    def __init__(self, client: Any, bucket: str, pool: ThreadPoolExecutor) -> None:
        self.client, self.bucket, self.pool = client, bucket, pool

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        put = partial(
            self.client.put_object,
            Bucket=self.bucket,
            Key=f"raw/{uuid.uuid4().hex}.eml",
            Body=envelope.original_content,
        )
        await asyncio.get_running_loop().run_in_executor(self.pool, put)
        return "250 OK"


def naive_server(port: int, bucket: str) -> int:
    import boto3
    from aiosmtpd.smtp import SMTP
    from botocore.config import Config

    # Standard env config (AWS_ENDPOINT_URL_S3 ...); a pool as large as the thread pool.
    client = boto3.client("s3", config=Config(max_pool_connections=NAIVE_THREADS))
    pool = ThreadPoolExecutor(max_workers=NAIVE_THREADS)
    handler = NaiveHandler(client, bucket, pool)

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: SMTP(handler, data_size_limit=None, hostname="naive.local", loop=loop),
            HOST,
            port,
        )
        stopping = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stopping.set)
        print(f"naive: SMTP on {HOST}:{port}, storing in s3://{bucket}", flush=True)
        await stopping.wait()
        server.close()
        await loop.run_in_executor(None, pool.shutdown, True)

    asyncio.run(serve())
    return 0


# -- entry point -------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="~10x fewer messages (smoke run)")
    p.add_argument("--rounds", type=int, default=1, help="interleaved rounds (default 1)")
    p.add_argument("--configs", default="a,b,c,d", help="subset of a,b,c,d (default all)")
    p.add_argument("--loads", default="10k,1m,50m", help="subset of 10k,1m,50m (default all)")
    p.add_argument("--msgs-10k", type=int, default=0, help="messages for 10 KiB (5000)")
    p.add_argument("--msgs-1m", type=int, default=0, help="messages for 1 MiB (500)")
    p.add_argument("--msgs-50m", type=int, default=0, help="messages for 50 MiB (1)")
    p.add_argument("--timeout", type=float, default=600, help="seconds per smtp-source run")
    p.add_argument("--keep", action="store_true", help="keep the servers' logs")
    p.add_argument("--naive-server", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--bucket", default="", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.rounds < 1:
        p.error("--rounds must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.naive_server:
        return naive_server(args.port, args.bucket)
    try:
        return run(args)
    finally:
        for child in list(LIVE):
            stop(child, timeout=10)


if __name__ == "__main__":
    sys.exit(main())
