"""Latency from the relay's 250 to searchable on the LocalStack tier, beside `inlet up`'s.

One run measures both, with the same load (default 1000 x 10 KiB over 10 parallel sessions,
postfix's `smtp-source`, one connection per message):

- `inlet up`: bench/pipeline_latency.py's own steps (start_inlet, measure), on a temp data dir.
- LocalStack: `python -m tests.localstack.tier up` (it starts LocalStack on 127.0.0.1:4566 or
  reuses the one running, deploys cdk.out and writes .localstack/inlet.env; `make synth` runs
  first if cdk.out is missing or older than infra/, functions/, inlet/), then `inlet relay` with
  that environment on free ports of 127.0.0.1, then the same smtp-source load.

Timestamps, all from the same host clock, none from polling:

- start: the relay's "stored" log line (JSON on its stderr, ms): written just before the 250 is
  returned, at the point where `inlet up`'s latency_ms starts (its stored hook). smtp-source
  cannot show per-message 250 times, and a Python sender would take CPU from the 2 cores that
  the relay, LocalStack and the Lambdas share; the relay's own line needs neither.
- searchable: the index Lambda's "indexed" line (Powertools JSON, ms), read from LocalStack's
  CloudWatch Logs. The handler writes it after `DynamoIndex.put` returned, i.e. after the MSG
  item is written without `pending`. The index items carry no indexed-at time. A probe checks
  this against the table itself: --probe messages are polled with DynamoIndex.get every 0.5 s.
- the stages between: the parsed document's `parsed_at` (the parse Lambda reads the clock as it
  starts each record), the parse Lambda's "parsed" line, and each invocation's end (the EMF line
  Powertools Metrics prints as the handler returns). With them the script reports, per function,
  records per invocation, concurrency, and the idle gap between one invocation's end and the
  next one's start while messages were waiting: what LocalStack's event source mapping adds.

Every loop is bounded in count and time; only 127.0.0.1 is targeted; the processes the script
starts are stopped by their PIDs. A LocalStack it did not start is left running (the script
compares .localstack/localstack.pid before and after `tier up`); one it started is stopped with
`tier down`. The messages stay in the tier's bucket and table.

Usage: .venv/bin/python bench/localstack_latency.py [--messages N] [--size BYTES]
           [--sessions S] [--timeout SECONDS] [--index-timeout SECONDS] [--probe K]
           [--esm-poll-interval SECONDS] [--no-inlet-up] [--keep]
--esm-poll-interval starts LocalStack with LAMBDA_EVENT_SOURCE_MAPPING_POLL_INTERVAL_SEC set (the
ablation in docs/performance.md); it needs no LocalStack to be running.
Results go to stdout and bench/out/localstack-latency-<timestamp>.json (gitignored).
"""

import argparse
import contextlib
import itertools
import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pipeline_latency as pl
from pipeline_latency import fmt
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

REPO = Path(__file__).resolve().parents[1]
STATE_DIR = REPO / ".localstack"
PID_FILE = STATE_DIR / "localstack.pid"
ENV_FILE = STATE_DIR / "inlet.env"
CDK_OUT = REPO / "cdk.out"
SYNTH_SOURCES = ("infra", "functions", "inlet")
TIER_TIMEOUT = 900.0
SYNTH_TIMEOUT = 1200.0
SENDER = "sender@example.org"
LOG_POLL_SECONDS = 5.0
SAMPLE_SECONDS = 2.0
PROBE_SECONDS = 0.5
PROBE_MARGIN = 60  # messages: a probed one is polled once this close to the head of the queue
MAX_LOG_PAGES = 500  # per stream and poll; a page holds up to 10000 events
MAX_STREAM_PAGES = 50
MAX_SEARCH_PAGES = 100
SEARCH_PAGE = 1000
PARSE_HANDLER = "functions.parse.handler.lambda_handler"
INDEX_HANDLER = "functions.index.handler.lambda_handler"
TIER_UP_TIME = re.compile(r"deployed .* in ([0-9.]+) s; wrote")
# LocalStack's default (localstack/config.py), not set by tests/localstack/server.py: after every
# non-empty poll, an event source mapping's poller waits this long before it polls again.
ESM_POLL_VARIABLE = "LAMBDA_EVENT_SOURCE_MAPPING_POLL_INTERVAL_SEC"
LOCALSTACK_ESM_POLL_INTERVAL_DEFAULT_S = 1.0


# -- small helpers -----------------------------------------------------------------------


def now_ms() -> int:
    return int(time.time() * 1000)


def summary(values: Iterable[float]) -> dict[str, float]:
    """p50/p90/p99 (nearest rank), min, max, mean; {} for no values."""
    return pl.latency_summary(list(values))


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def powertools_time(text: str) -> float:
    """Powertools Logger's timestamp, e.g. '2026-12-01 22:37:14,357+0000', as epoch seconds."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S,%f%z").timestamp()


def iso_time(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def read_env_file(path: Path) -> dict[str, str]:
    """The `export K=V` lines `tier up` writes (values shell-quoted)."""
    env: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line.startswith("export "):
            key, _, value = line[len("export ") :].partition("=")
            env[key] = " ".join(shlex.split(value))
    return env


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: a liveness check, nothing is sent
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def pid_file_state() -> int | None:
    """The PID in .localstack/localstack.pid if that process is alive, else None."""
    with contextlib.suppress(OSError, ValueError):
        pid = int(PID_FILE.read_text().strip())
        if pid_alive(pid):
            return pid
    return None


def machine_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def tree_cpu(root: int) -> dict[int, float]:
    """utime+stime of `root` and its descendants (the Lambda environments LocalStack runs)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parents[int(entry.name)] = int(stat[stat.rindex(")") + 2 :].split()[1])
    tree, frontier = {root}, [root]
    for _ in range(len(parents) + 1):  # bounded: each round adds a generation
        if not frontier:
            break
        frontier = [pid for pid, ppid in parents.items() if ppid in frontier and pid not in tree]
        tree.update(frontier)
    cpu: dict[int, float] = {}
    for pid in tree:
        with contextlib.suppress(OSError, ValueError):
            cpu[pid] = cpu_seconds(pid)
    return cpu


def run_logged(
    argv: Sequence[str], log: Path, timeout: float, env: dict[str, str] | None = None
) -> tuple[int | None, str, float]:
    """Run to completion with output in a file; (exit code or None on timeout, output, s)."""
    t0 = time.monotonic()
    with log.open("wb") as out:
        try:
            rc: int | None = subprocess.run(
                list(argv),
                cwd=REPO,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=False,
            ).returncode
        except subprocess.TimeoutExpired:  # run() has killed it (our child, by its PID)
            rc = None
    return rc, log.read_text(errors="replace"), time.monotonic() - t0


# -- the tier ----------------------------------------------------------------------------


@dataclass
class TierInfo:
    reused_pid: int | None = None  # a LocalStack that was running before: left running
    started_pid: int | None = None  # one `tier up` started for this run: stopped at the end
    synth_s: float | None = None
    tier_up_s: float | None = None  # tier up's own figure ("... in X s")
    tier_up_wall_s: float = 0.0
    tier_up_line: str = ""
    tier_down: str = ""
    # LAMBDA_EVENT_SOURCE_MAPPING_POLL_INTERVAL_SEC given to a LocalStack this run starts
    # (--esm-poll-interval); None: LocalStack's default.
    esm_poll_interval_s: float | None = None
    fallback: str = ""  # why the existing deployment was measured instead of a fresh tier up
    deployed: dict[str, str] = field(default_factory=dict)
    esm: dict[str, dict[str, Any]] = field(default_factory=dict)


def synth_is_stale() -> bool:
    manifest = CDK_OUT / "manifest.json"
    if not manifest.exists():
        return True
    built = manifest.stat().st_mtime
    for top in SYNTH_SOURCES:
        for path in (REPO / top).rglob("*.py"):
            if path.stat().st_mtime > built:
                return True
    return (REPO / "cdk.json").stat().st_mtime > built


def tier_up(tier: TierInfo, logs: Path, poll_interval: float | None) -> None:
    env = None
    if poll_interval is not None:
        # LocalStack reads it at start-up (tests/localstack/server.py passes the environment
        # on), so it can only apply to a LocalStack this run starts.
        if os.environ.get("LOCALSTACK_ENDPOINT") or pid_file_state() is not None:
            raise RuntimeError(
                "--esm-poll-interval needs a LocalStack this run starts, and one is running "
                "(make localstack-stop first, or leave the flag out)"
            )
        env = {**os.environ, ESM_POLL_VARIABLE: f"{poll_interval:g}"}
        tier.esm_poll_interval_s = poll_interval
    elif os.environ.get(ESM_POLL_VARIABLE):
        tier.esm_poll_interval_s = float(os.environ[ESM_POLL_VARIABLE])  # passed on by server.py
    if synth_is_stale():
        print("cdk.out is missing or older than its sources: make synth ...", flush=True)
        rc, out, tier.synth_s = run_logged(["make", "synth"], logs / "synth.log", SYNTH_TIMEOUT)
        if rc != 0:
            raise RuntimeError(f"make synth exited {rc}: {out.strip()[-400:]}")
    tier.reused_pid = pid_file_state()
    print(
        "tier up "
        + (f"(reusing LocalStack pid {tier.reused_pid}) " if tier.reused_pid else "")
        + "...",
        flush=True,
    )
    argv = [str(VENV_BIN / "python"), "-m", "tests.localstack.tier", "up"]
    rc, out, tier.tier_up_wall_s = run_logged(argv, logs / "tier-up.log", TIER_TIMEOUT, env)
    after = pid_file_state()
    if after is not None and after != tier.reused_pid:
        tier.started_pid = after
    lines = [line for line in out.splitlines() if line.startswith("localstack: ")]
    tier.tier_up_line = lines[-1] if lines else ""
    found = TIER_UP_TIME.search(tier.tier_up_line)
    tier.tier_up_s = float(found.group(1)) if found else None
    if rc != 0:
        error = out.strip().splitlines()[-1] if out.strip() else f"exit {rc}"
        if tier.reused_pid is None or tier.started_pid is not None:
            raise RuntimeError(f"tier up exited {rc}: {error}")
        # A LocalStack that was running already: measure what it has deployed, and say so.
        tier.deployed = deployed_stacks(read_env_file(ENV_FILE))
        tier.fallback = (
            f"tier up exited {rc} ({error}); measured the deployment already on the running "
            f"LocalStack instead: {', '.join(f'{k} {v}' for k, v in tier.deployed.items())}"
        )
        print(f"  {tier.fallback}", flush=True)
        return
    print(f"  {tier.tier_up_line}", flush=True)


def deployed_stacks(env: dict[str, str]) -> dict[str, str]:
    """Stack -> 'STATUS (created/updated T; cdk.out newer: yes|no)'; RuntimeError if unusable."""
    cfn = Aws(env).client("cloudformation")
    built = (CDK_OUT / "manifest.json").stat().st_mtime
    found: dict[str, str] = {}
    for stack in cfn.describe_stacks()["Stacks"]:
        name, status = stack["StackName"], stack["StackStatus"]
        if not name.startswith("Inlet-"):
            continue
        if status not in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
            raise RuntimeError(f"stack {name} is {status}: nothing usable to measure")
        when = stack.get("LastUpdatedTime") or stack["CreationTime"]
        newer = "yes" if built > when.timestamp() else "no"
        found[name] = f"{status} ({when:%H:%M:%S}Z; cdk.out newer: {newer})"
    if not found or not ENV_FILE.exists():
        raise RuntimeError("no Inlet stacks or no .localstack/inlet.env on the running LocalStack")
    return found


def tier_down(tier: TierInfo, logs: Path) -> None:
    if tier.started_pid is None:
        return
    argv = [str(VENV_BIN / "python"), "-m", "tests.localstack.tier", "down"]
    rc, out, _ = run_logged(argv, logs / "tier-down.log", 120.0)
    tier.tier_down = out.strip().splitlines()[-1] if out.strip() else f"exit {rc}"
    print(f"tier down: {tier.tier_down}", flush=True)


class Aws:
    """boto3 clients for the tier, from inlet.env (endpoint, region, test credentials)."""

    def __init__(self, env: dict[str, str]) -> None:
        import boto3
        from botocore.config import Config

        self.env = env
        self.session = boto3.Session(
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            region_name=env["AWS_REGION"],
        )
        self.config = Config(
            connect_timeout=5, read_timeout=30, retries={"mode": "standard", "max_attempts": 3}
        )

    def client(self, service: str) -> Any:
        return self.session.client(
            service, endpoint_url=self.env["AWS_ENDPOINT_URL"], config=self.config
        )

    def index(self) -> Any:
        from inlet.index.dynamodb import CLIENT_CONFIG, DynamoIndex

        client = self.session.client(
            "dynamodb", endpoint_url=self.env["AWS_ENDPOINT_URL"], config=CLIENT_CONFIG
        )
        return DynamoIndex(client, self.env["INLET_TABLE"])

    def messages(self) -> Any:
        from inlet.blobstore.s3 import CLIENT_CONFIG, S3BlobStore
        from inlet.message_store import MessageStore

        client = self.session.client(
            "s3", endpoint_url=self.env["AWS_ENDPOINT_URL"], config=CLIENT_CONFIG
        )
        return MessageStore(S3BlobStore(client, self.env["INLET_BUCKET"]))


def find_functions(aws: Aws) -> dict[str, dict[str, Any]]:
    """parse and index: function name, candidate log groups, and the event source mapping."""
    lam = aws.client("lambda")
    found: dict[str, dict[str, Any]] = {}
    marker = None
    for page in lam.get_paginator("list_functions").paginate(PaginationConfig={"MaxItems": 500}):
        for fn in page["Functions"]:
            kind = {PARSE_HANDLER: "parse", INDEX_HANDLER: "index"}.get(fn.get("Handler", ""))
            if kind is None:
                continue
            if kind in found:
                marker = f"more than one {kind} function on the tier: {fn['FunctionName']}"
            groups = [f"/aws/lambda/{fn['FunctionName']}"]
            configured = (fn.get("LoggingConfig") or {}).get("LogGroup")
            if configured and configured not in groups:
                groups.append(configured)
            mappings = lam.list_event_source_mappings(FunctionName=fn["FunctionName"])
            esm = (mappings.get("EventSourceMappings") or [{}])[0]
            found[kind] = {
                "function": fn["FunctionName"],
                "log_groups": groups,
                "esm": {
                    "queue": str(esm.get("EventSourceArn", "")).rsplit(":", 1)[-1],
                    "batch_size": esm.get("BatchSize"),
                    "max_batching_window_s": esm.get("MaximumBatchingWindowInSeconds"),
                    "max_concurrency": (esm.get("ScalingConfig") or {}).get("MaximumConcurrency"),
                    "state": esm.get("State"),
                },
            }
    if marker:
        raise RuntimeError(marker)
    if set(found) != {"parse", "index"}:
        raise RuntimeError(f"the tier has no parse/index functions (found {sorted(found)})")
    return found


# -- the Lambdas' logs -------------------------------------------------------------------


@dataclass
class Invocation:
    function: str
    request_id: str
    stream: str
    end: float | None = None  # the EMF line's Timestamp: Powertools Metrics flushes on return
    events_received: int | None = None  # EMF EventsReceived: SQS records in the batch
    events: list[dict[str, Any]] = field(default_factory=list)  # Powertools lines, with "t"


class FunctionLog:
    """One function's log events in LocalStack's CloudWatch Logs, read incrementally.

    LocalStack puts each invocation's output as one batch (all with the same ingestion time),
    so the lines between "START RequestId: X" and "END RequestId: X" of a stream are X's."""

    def __init__(self, logs: Any, function: str, groups: Sequence[str], since_ms: int) -> None:
        self.logs = logs
        self.function = function
        self.groups = list(groups)
        self.since_ms = since_ms
        self.tokens: dict[tuple[str, str], str] = {}
        self.current: dict[tuple[str, str], Invocation | None] = {}
        self.invocations: dict[str, Invocation] = {}
        self.unparsed = 0
        self.requests = 0  # API calls made, to tell the bench's own load on LocalStack

    def poll(self) -> None:
        for group in self.groups:
            for stream in self._streams(group):
                self._read(group, stream)

    def _streams(self, group: str) -> list[str]:
        names: list[str] = []
        token: str | None = None
        for _ in range(MAX_STREAM_PAGES):
            kwargs: dict[str, Any] = {"logGroupName": group}
            if token:
                kwargs["nextToken"] = token
            self.requests += 1
            try:
                page = self.logs.describe_log_streams(**kwargs)
            except self.logs.exceptions.ResourceNotFoundException:
                return names
            for s in page.get("logStreams", []):
                last = s.get("lastIngestionTime") or s.get("lastEventTimestamp") or now_ms()
                if last >= self.since_ms:
                    names.append(s["logStreamName"])
            token = page.get("nextToken")
            if not token:
                break
        return names

    def _read(self, group: str, stream: str) -> None:
        key = (group, stream)
        token = self.tokens.get(key)
        for _ in range(MAX_LOG_PAGES):
            kwargs: dict[str, Any] = {
                "logGroupName": group,
                "logStreamName": stream,
                "startFromHead": True,
                "startTime": self.since_ms,  # always the same: the token indexes this filter
            }
            if token:
                kwargs["nextToken"] = token
            self.requests += 1
            page = self.logs.get_log_events(**kwargs)
            for event in page.get("events", []):
                self._line(key, event["message"].rstrip("\n"))
            new = page.get("nextForwardToken")
            if not page.get("events") or not new or new == token:
                token = new or token
                break
            token = new
        if token:
            self.tokens[key] = token

    def _line(self, key: tuple[str, str], line: str) -> None:
        if line.startswith("START RequestId: "):
            rid = line.split(": ", 1)[1].split()[0]
            inv = Invocation(self.function, rid, key[1])
            self.invocations[rid] = inv
            self.current[key] = inv
            return
        inv = self.current.get(key)
        if line.startswith("END RequestId: "):
            self.current[key] = None
            return
        if inv is None or not line.startswith("{"):
            return
        try:
            doc = json.loads(line)
        except ValueError:
            self.unparsed += 1
            return
        if "_aws" in doc:
            inv.end = int(doc["_aws"]["Timestamp"]) / 1000
            received = doc.get("EventsReceived")
            if isinstance(received, list) and received:
                inv.events_received = int(received[0])
            return
        if "timestamp" in doc and "message" in doc:
            doc["t"] = powertools_time(doc["timestamp"])
            inv.events.append(doc)

    def events(self, message: str) -> dict[str, tuple[float, str]]:
        """message_id -> (time, request id) of the first `message` line per message."""
        out: dict[str, tuple[float, str]] = {}
        for inv in self.invocations.values():
            for e in inv.events:
                mid = e.get("message_id")
                if e.get("message") == message and mid and mid not in out:
                    out[mid] = (e["t"], inv.request_id)
        return out


# -- samplers running beside the load ---------------------------------------------------


class Sampler(threading.Thread):
    """Every SAMPLE_SECONDS: the visible and in-flight counts of the parse and index queues."""

    def __init__(self, sqs: Any, queues: dict[str, str], deadline: float) -> None:
        super().__init__(name="queue-sampler", daemon=True)
        self.sqs, self.queues, self.deadline = sqs, queues, deadline
        self.samples: list[dict[str, Any]] = []
        self.errors = 0
        self.done = threading.Event()

    def run(self) -> None:
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        for _ in range(int((self.deadline - time.monotonic()) / SAMPLE_SECONDS) + 2):
            if self.done.is_set() or time.monotonic() >= self.deadline:
                return
            row: dict[str, Any] = {"t": time.time()}
            for kind, url in self.queues.items():
                try:
                    attrs = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)
                    a = attrs["Attributes"]
                    row[kind] = (int(a[names[0]]), int(a[names[1]]))
                except Exception:
                    self.errors += 1
            self.samples.append(row)
            self.done.wait(SAMPLE_SECONDS)


class Probe(threading.Thread):
    """Polls DynamoIndex.get for a few messages until each is there: a check, by the table
    itself, of the time taken from the index Lambda's "indexed" line.

    A message is polled only once it is near the head of the queue (`progress`, the number
    of messages indexed so far, is within PROBE_MARGIN of its place in the send order), so the
    probe adds a few queries per message, not a stream of them, to LocalStack's load."""

    def __init__(self, index: Any, ranks: dict[str, int], deadline: float) -> None:
        super().__init__(name="index-probe", daemon=True)
        self.index, self.ranks, self.deadline = index, ranks, deadline
        self.pending = sorted(ranks, key=lambda m: ranks[m])
        self.progress = 0  # set by the main loop
        self.last_absent: dict[str, float] = {}  # the start of the last query that missed it
        self.seen: dict[str, float] = {}  # the end of the first query that found it
        self.queries = 0
        self.errors = 0
        self.done = threading.Event()

    def run(self) -> None:
        for _ in range(int((self.deadline - time.monotonic()) / PROBE_SECONDS) + 2):
            if not self.pending or self.done.is_set() or time.monotonic() >= self.deadline:
                return
            for mid in [m for m in self.pending if self.ranks[m] <= self.progress + PROBE_MARGIN]:
                t0 = time.time()
                self.queries += 1
                try:
                    entry = self.index.get(mid)
                except Exception:
                    self.errors += 1
                    continue
                if entry is None:
                    self.last_absent[mid] = t0
                else:
                    self.seen[mid] = time.time()
                    self.pending.remove(mid)
            self.done.wait(PROBE_SECONDS)


# -- the LocalStack run ------------------------------------------------------------------


@dataclass
class TierResult:
    status: str = "ok"
    messages: int = 0
    size: int = 0
    sessions: int = 0
    recipient: str = ""
    client_rc: int | None = None
    send_s: float = 0.0
    send_msgs_per_s: float = 0.0
    stored: int = 0
    parsed: int = 0
    indexed: int = 0
    searchable: int = 0
    unique_message_ids: int = 0
    drain_s: float | None = None
    index_span_s: float | None = None
    indexed_msgs_per_s: float | None = None
    latency_ms: dict[str, float] = field(default_factory=dict)
    stages_ms: dict[str, dict[str, float]] = field(default_factory=dict)
    functions: dict[str, dict[str, Any]] = field(default_factory=dict)
    queues: dict[str, Any] = field(default_factory=dict)
    probe: dict[str, Any] = field(default_factory=dict)
    cpu: dict[str, Any] = field(default_factory=dict)
    relay: dict[str, Any] = field(default_factory=dict)
    relay_rc: int | None = None
    relay_killed: bool = False
    per_message: list[dict[str, Any]] = field(default_factory=list)
    invocations: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def start_relay(env: dict[str, str], logs: Path, work: Path) -> tuple[Child, int]:
    port, health = free_port(), free_port()
    child_env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "INLET_"))}
    child_env.update(env)
    child_env.update(
        INLET_SMTP_PORT=str(port),
        INLET_HEALTH_PORT=str(health),
        INLET_LOG_LEVEL="INFO",  # the "stored" lines are INFO
        XDG_STATE_HOME=str(work / "state"),
    )
    argv = [
        str(VENV_BIN / "inlet"),
        "relay",
        f"--smtp-host={HOST}",
        f"--smtp-port={port}",
        f"--health-port={health}",
        "--metrics-interval=3600",  # EMF totals once, at shutdown (on stdout)
    ]
    child = spawn("inlet-relay", argv, logs, env=child_env)
    wait_ready(child, stdout_has(child, b"inlet relay: SMTP on "))
    return child, port


def smtp_source(args: argparse.Namespace, port: int, rcpt: str, logs: Path) -> tuple[Any, ...]:
    """pipeline_latency.send's smtp-source run, to another recipient. (rc, stderr, wall s)"""
    argv = [shutil.which("smtp-source") or "/usr/sbin/smtp-source", "-s", str(args.sessions)]
    argv += ["-m", str(args.messages), "-l", str(args.size), "-f", SENDER, "-t", rcpt]
    argv.append(f"{HOST}:{port}")
    err = logs / "smtp-source-tier.err"
    t0 = time.monotonic()
    with (logs / "smtp-source-tier.out").open("wb") as fo, err.open("wb") as fe:
        try:
            rc: int | None = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=fo,
                stderr=fe,
                timeout=args.timeout,
                check=False,
            ).returncode
        except subprocess.TimeoutExpired:
            rc = None
    return rc, err.read_text(errors="replace"), time.monotonic() - t0


def stored_events(path: Path) -> dict[str, float]:
    """message_id -> time of the relay's "stored" line."""
    out: dict[str, float] = {}
    for line in path.read_bytes().splitlines():
        with contextlib.suppress(ValueError, KeyError, TypeError):
            event = json.loads(line)
            if event.get("message") == "stored":
                out[event["message_id"]] = iso_time(event["time"])
    return out


def run_tier(args: argparse.Namespace, tier: TierInfo, logs: Path, work: Path) -> TierResult:
    r = TierResult(messages=args.messages, size=args.size, sessions=args.sessions)
    env = read_env_file(ENV_FILE)
    aws = Aws(env)
    fns = find_functions(aws)
    tier.esm = {k: v["esm"] for k, v in fns.items()}
    domain = env.get("INLET_DOMAINS", "example.com").split(",")[0].strip()
    r.recipient = f"rcpt@{domain}"
    relay, port = start_relay(env, logs, work)
    try:
        measure_tier(args, r, aws, fns, relay, port, logs)
    finally:
        r.relay_rc, r.relay_killed = stop(relay)
        r.relay = relay_metrics(relay.stdout)
        if r.relay_rc != 0 or r.relay_killed:
            r.notes.append(
                f"relay exit {r.relay_rc}, killed={r.relay_killed}: {tail(relay.stderr)}"
            )
    return r


def measure_tier(
    args: argparse.Namespace,
    r: TierResult,
    aws: Aws,
    fns: dict[str, dict[str, Any]],
    relay: Child,
    port: int,
    logs: Path,
) -> None:
    since_ms = now_ms() - 1000
    run_start = datetime.now(UTC)
    cw = aws.client("logs")
    parse_log = FunctionLog(cw, "parse", fns["parse"]["log_groups"], since_ms)
    index_log = FunctionLog(cw, "index", fns["index"]["log_groups"], since_ms)
    queues = {
        "parse": aws.env["LOCALSTACK_PARSE_QUEUE_URL"],
        "index": aws.env["LOCALSTACK_INDEX_QUEUE_URL"],
    }
    deadline = time.monotonic() + args.timeout + args.index_timeout
    sampler = Sampler(aws.client("sqs"), queues, deadline)
    ls_pid = pid_file_state() if not os.environ.get("LOCALSTACK_ENDPOINT") else None
    time.sleep(pl.SETTLE_SECONDS)
    ls_cpu0 = tree_cpu(ls_pid) if ls_pid else {}
    relay_cpu0 = cpu_seconds(relay.pid)
    jiffies0 = machine_jiffies()
    self0 = os.times()
    sampler.start()
    send_start = time.time()
    print(f"sending {args.messages} x {args.size} B over {args.sessions} sessions to the relay")
    r.client_rc, client_err, r.send_s = smtp_source(args, port, r.recipient, logs)
    send_end = time.time()
    relay_cpu1 = cpu_seconds(relay.pid)
    r.send_msgs_per_s = args.messages / r.send_s if r.send_s else 0.0
    errors = [line for line in client_err.splitlines() if line.strip()]
    if errors:
        r.notes.append(f"smtp-source: {len(errors)} error lines, first: {errors[0]}")
    if r.client_rc != 0:
        r.status = "client-errors" if r.client_rc is not None else "timeout"
        r.notes.append(f"smtp-source exit {r.client_rc}")
    time.sleep(0.2)  # the last "stored" lines reach the file
    stored = stored_events(relay.stderr)
    r.stored = len(stored)
    print(f"sent in {r.send_s:.2f} s; {r.stored} stored; waiting for the index Lambda ...")

    probe = start_probe(args, aws, stored, index_log, deadline)
    waited = wait_indexed(args, stored, index_log, probe, deadline)
    if waited != "ok" and r.status == "ok":
        r.status = waited
    probe.done.set()
    sampler.done.set()
    jiffies1 = machine_jiffies()
    ls_cpu1 = tree_cpu(ls_pid) if ls_pid else {}
    bench_requests = len(queues) * len(sampler.samples) + probe.queries + index_log.requests
    parse_log.poll()
    index_log.poll()
    probe.join(5)
    sampler.join(5)
    self1 = os.times()
    relay_cpu2 = cpu_seconds(relay.pid) if relay.proc.poll() is None else relay_cpu1
    busy = (jiffies1[0] - jiffies0[0]) / max(1, jiffies1[1] - jiffies0[1])
    wall = time.time() - send_start
    ls_tree = sum(ls_cpu1.values()) - sum(v for p, v in ls_cpu0.items() if p in ls_cpu1)
    # What the bench itself (threads, smtp-source) used, and what is left for other processes.
    bench_cpu = sum(self1[:4]) - sum(self0[:4])
    ours = (relay_cpu2 - relay_cpu0) + (ls_tree if ls_pid else 0.0) + bench_cpu
    r.cpu = {
        "relay_ms_per_msg_send": (relay_cpu1 - relay_cpu0) * 1000 / max(1, r.stored),
        "relay_vmhwm_mib": vm_hwm_mib(relay.pid) if relay.proc.poll() is None else None,
        "localstack_pid": ls_pid,
        "localstack_tree_cpu_s": ls_tree if ls_pid else None,
        # The LocalStack process itself (gateway, S3, SQS, DynamoDB, the pollers: one Python
        # process) apart from its Lambda environments (host processes, its children).
        "localstack_main_cpu_s": (
            ls_cpu1.get(ls_pid, 0.0) - ls_cpu0.get(ls_pid, 0.0) if ls_pid else None
        ),
        "relay_cpu_s": relay_cpu2 - relay_cpu0,
        "bench_and_smtp_source_cpu_s": bench_cpu,
        "other_processes_cores": (busy * (os.cpu_count() or 1) * wall - ours) / wall,
        "lambda_processes": max(0, len(ls_cpu1) - 1),
        "machine_busy_fraction": busy,
        "machine_busy_cores": busy * (os.cpu_count() or 1),
        "wall_s": wall,
        # The bench's own calls to LocalStack over the same time (queue samples, the probe,
        # the index log): part of the LocalStack CPU above.
        "bench_requests": bench_requests,
    }
    if ls_pid and r.stored:
        r.cpu["localstack_tree_ms_per_msg"] = ls_tree * 1000 / r.stored
        r.cpu["pipeline_ms_per_msg"] = (ls_tree + relay_cpu2 - relay_cpu0) * 1000 / r.stored
    analyse(r, stored, parse_log, index_log, aws, sampler, probe, send_start, send_end, fns)
    verify_tier(r, aws, stored, run_start)


def start_probe(
    args: argparse.Namespace,
    aws: Aws,
    stored: dict[str, float],
    index_log: FunctionLog,
    deadline: float,
) -> Probe:
    """Pick --probe messages spread over the later 70 % of the sends (still unindexed)."""
    ordered = sorted(stored, key=lambda m: stored[m])
    rank = {m: i for i, m in enumerate(ordered)}
    later = ordered[int(len(ordered) * 0.3) :]
    index_log.poll()
    done = set(index_log.events("indexed"))
    candidates = [m for m in later if m not in done]
    k = min(args.probe, len(candidates))
    ids = [candidates[int(i * len(candidates) / k)] for i in range(k)] if k else []
    probe = Probe(aws.index(), {m: rank[m] for m in ids}, deadline)
    probe.progress = len(done & set(stored))
    probe.start()
    return probe


def wait_indexed(
    args: argparse.Namespace,
    stored: dict[str, float],
    index_log: FunctionLog,
    probe: Probe,
    deadline: float,
) -> str:
    """Poll the index Lambda's log until every stored message was indexed. ok | timeout"""
    want = set(stored)
    last_report = time.monotonic()
    for _ in range(int((args.timeout + args.index_timeout) / LOG_POLL_SECONDS) + 2):
        index_log.poll()
        done = want & set(index_log.events("indexed"))
        probe.progress = len(done)
        if len(done) >= len(want):
            return "ok"
        if time.monotonic() > deadline:
            return "timeout"
        if time.monotonic() - last_report >= 15:
            print(f"  {len(done)}/{len(want)} indexed", flush=True)
            last_report = time.monotonic()
        time.sleep(LOG_POLL_SECONDS)
    return "timeout"


def analyse(
    r: TierResult,
    stored: dict[str, float],
    parse_log: FunctionLog,
    index_log: FunctionLog,
    aws: Aws,
    sampler: Sampler,
    probe: Probe,
    send_start: float,
    send_end: float,
    fns: dict[str, dict[str, Any]],
) -> None:
    parsed = {m: v for m, v in parse_log.events("parsed").items() if m in stored}
    indexed = {m: v for m, v in index_log.events("indexed").items() if m in stored}
    r.parsed, r.indexed = len(parsed), len(indexed)
    latencies = [(indexed[m][0] - stored[m]) * 1000 for m in indexed]
    r.latency_ms = summary(latencies)
    if indexed:
        last = max(t for t, _ in indexed.values())
        r.drain_s = last - send_end
        r.index_span_s = last - send_start
        r.indexed_msgs_per_s = len(indexed) / r.index_span_s if r.index_span_s > 0 else None
    # parsed_at: the parse Lambda's clock as it started the record (ms), from the document.
    messages = aws.messages()
    parse_start: dict[str, float] = {}
    for m in parsed:
        with contextlib.suppress(Exception):
            doc = messages.load_document(m)
            if doc is not None and doc.get("parsed_at"):
                parse_start[m] = iso_time(doc["parsed_at"])
    if len(parse_start) < len(parsed):
        r.notes.append(f"parsed_at read for {len(parse_start)} of {len(parsed)} documents")
    stage: dict[str, list[float]] = {"parse_wait": [], "parse_work": [], "index_stage": []}
    for m in indexed:
        if m in parse_start and m in parsed:
            stage["parse_wait"].append((parse_start[m] - stored[m]) * 1000)
            stage["parse_work"].append((parsed[m][0] - parse_start[m]) * 1000)
            stage["index_stage"].append((indexed[m][0] - parsed[m][0]) * 1000)
    r.stages_ms = {k: summary(v) for k, v in stage.items()}
    total = sum(latencies) or 1.0
    for k, v in stage.items():
        r.stages_ms[k]["share_of_latency"] = sum(v) / total
    r.per_message = [
        {
            "id": m,
            "stored": stored[m],
            "parse_start": parse_start.get(m),
            "parsed": parsed[m][0] if m in parsed else None,
            "indexed": indexed[m][0] if m in indexed else None,
            "parse_request": parsed[m][1] if m in parsed else None,
            "index_request": indexed[m][1] if m in indexed else None,
        }
        for m in sorted(stored, key=lambda m: stored[m])
    ]
    # When messages were waiting for each function (from the per-message times, exactly).
    arrivals = {
        "parse": sorted(stored.values()),
        "index": sorted(t for t, _ in parsed.values()),
    }
    taken = {
        "parse": sorted(parse_start.values()),
        "index": sorted(t for t, _ in indexed.values()),
    }
    for kind, log in (("parse", parse_log), ("index", index_log)):
        ours = parsed if kind == "parse" else indexed
        r.functions[kind] = invocation_analysis(
            kind, log, ours, parse_start, arrivals[kind], taken[kind], fns[kind]["esm"], r
        )
    r.queues = queue_summary(sampler)
    r.probe = probe_summary(probe, indexed)


def invocation_analysis(
    kind: str,
    log: FunctionLog,
    ours: dict[str, tuple[float, str]],
    parse_start: dict[str, float],
    arrivals: list[float],
    taken: list[float],
    esm: dict[str, Any],
    r: TierResult,
) -> dict[str, Any]:
    """Records per invocation, duration, concurrency and the idle gaps between invocations."""
    by_request: dict[str, list[str]] = {}
    for m, (_, rid) in ours.items():
        by_request.setdefault(rid, []).append(m)
    invs = [log.invocations[rid] for rid in by_request if rid in log.invocations]
    # Within a batch records run one after another: the step between consecutive lines is the
    # work of one record (used as the start estimate where no record start is known).
    steps: list[float] = []
    for inv in invs:
        times = sorted(ours[m][0] for m in by_request[inv.request_id])
        steps += [b - a for a, b in itertools.pairwise(times)]
    step = statistics.median(steps) if steps else 0.0
    rows: list[dict[str, Any]] = []
    for inv in invs:
        mids = by_request[inv.request_id]
        first = min(ours[m][0] for m in mids)
        exact = kind == "parse" and all(m in parse_start for m in mids)
        if exact:
            start, how = min(parse_start[m] for m in mids), "parsed_at of its first record"
        else:
            start, how = first - step, "first line minus one record's median step"
        end = inv.end if inv.end is not None else max(ours[m][0] for m in mids)
        rows.append(
            {
                "request_id": inv.request_id,
                "stream": inv.stream,
                "records": len(mids),
                "events_received": inv.events_received,
                "start": start,
                "end": end,
                "start_from": how,
                # Surely inside the invocation: for the overlap count, which an estimated
                # start could make up.
                "surely_from": start if exact else first,
            }
        )
    rows.sort(key=lambda x: x["start"])
    for row in rows:
        r.invocations.append({"function": kind, **row})
    if not rows:
        return {}
    durations = [(x["end"] - x["start"]) * 1000 for x in rows]
    # Gaps: from one invocation's end to the next one's start, only where messages were
    # waiting at that end (arrived for this function, not yet taken by an invocation).
    gaps: list[float] = []
    all_gaps: list[float] = []
    ordered_by_end = sorted(rows, key=lambda x: x["end"])
    for prev, nxt in itertools.pairwise(ordered_by_end):
        gap = (nxt["start"] - prev["end"]) * 1000
        all_gaps.append(gap)
        waiting = bisect_right(arrivals, prev["end"]) - bisect_right(taken, prev["end"])
        if waiting > 0:
            gaps.append(gap)
    # The first invocation's wait: from the first arrival to its start. An idle mapping polls
    # with a growing back-off (LocalStack: up to 10 s), so this is what an idle tier adds.
    first_wait = (rows[0]["start"] - arrivals[0]) * 1000 if arrivals else None
    concurrency = max_overlap([(x["surely_from"], x["end"]) for x in rows])
    span = rows[-1]["end"] - rows[0]["start"] if len(rows) > 1 else 0.0
    records = [x["records"] for x in rows]
    # While always backlogged, the span is the sum of durations and gaps: the rate follows.
    mean_batch = statistics.mean(records)
    cycle = (statistics.mean(gaps) if gaps else 0.0) + statistics.mean(durations)
    model = mean_batch / (cycle / 1000) if cycle > 0 else None
    return {
        "function": log.function,
        "esm": esm,
        "invocations": len(rows),
        "records_per_invocation": summary(records),
        "full_batches": sum(1 for n in records if n == esm.get("batch_size")),
        "duration_ms": summary(durations),
        "record_step_ms": ms(step),
        "max_concurrent": concurrency,
        "first_wait_ms": first_wait,
        "backlogged_gaps": len(gaps),
        "gap_ms_backlogged": summary(gaps),
        "gap_ms_all": summary(all_gaps),
        "busy_fraction": sum(durations) / 1000 / span if span > 0 else None,
        "span_s": span,
        "throughput_msgs_per_s": len(ours) / span if span > 0 else None,
        "model_msgs_per_s": model,
        "model": "mean records per invocation / (mean backlogged gap + mean duration)",
    }


def max_overlap(intervals: Sequence[tuple[float, float]]) -> int:
    points = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    best = current = 0
    for _, delta in points:
        current += delta
        best = max(best, current)
    return best


def queue_summary(sampler: Sampler) -> dict[str, Any]:
    out: dict[str, Any] = {"samples": len(sampler.samples), "errors": sampler.errors}
    for kind in ("parse", "index"):
        visible = [s[kind][0] for s in sampler.samples if kind in s]
        inflight = [s[kind][1] for s in sampler.samples if kind in s]
        out[kind] = {
            "peak_visible": max(visible, default=0),
            "peak_in_flight": max(inflight, default=0),
            "mean_visible": statistics.mean(visible) if visible else 0,
        }
    out["series"] = sampler.samples
    return out


def probe_summary(probe: Probe, indexed: dict[str, tuple[float, str]]) -> dict[str, Any]:
    """For each probed message: was the "indexed" line inside the probe's bracket
    (after the last query that missed it started, before the first one that found it ended)?"""
    rows = []
    for mid, seen in probe.seen.items():
        if mid not in indexed:
            continue
        t = indexed[mid][0]
        lower = probe.last_absent.get(mid)
        rows.append(
            {
                "id": mid,
                "log_to_seen_ms": ms(seen - t),
                "absent_before_ms": None if lower is None else ms(t - lower),
                # 2 ms: the line's own resolution (ms) and the clocks' rounding
                "inside": lower is not None and lower - 0.002 <= t <= seen + 0.002,
                "after_seen": t > seen + 0.002,
            }
        )
    return {
        "probed": len(probe.seen) + len(probe.pending),
        "queries": probe.queries,
        "found": len(probe.seen),
        "bracketed": sum(1 for x in rows if x["absent_before_ms"] is not None),
        "inside_bracket": sum(1 for x in rows if x["inside"]),
        "line_after_seen": sum(1 for x in rows if x["after_seen"]),
        "log_to_seen_ms": summary(x["log_to_seen_ms"] for x in rows),
        "interval_s": PROBE_SECONDS,
        "errors": probe.errors,
        "rows": rows,
    }


def verify_tier(r: TierResult, aws: Aws, stored: dict[str, float], since: datetime) -> None:
    """Every stored message must be found by `DynamoIndex.search('to', rcpt)`, once."""
    index = aws.index()
    ids: list[str] = []
    message_ids: set[str] = set()
    cursor: str | None = None
    try:
        for _ in range(MAX_SEARCH_PAGES):
            page = index.search("to", r.recipient, since=since, limit=SEARCH_PAGE, cursor=cursor)
            for entry in page.entries:
                if entry.id in stored:
                    ids.append(entry.id)
                    if entry.message_id:
                        message_ids.add(entry.message_id)
            cursor = page.cursor
            if not cursor:
                break
    except Exception as exc:
        r.status = "not-searchable"
        r.notes.append(f"FAIL: DynamoIndex.search: {exc}")
        return
    r.searchable = len(set(ids))
    r.unique_message_ids = len(message_ids)
    problems = []
    if r.stored != r.messages:
        problems.append(f"{r.stored} stored of {r.messages} sent")
    if r.searchable != r.stored:
        problems.append(f"{r.searchable} searchable of {r.stored} stored")
    if len(ids) != len(set(ids)):
        problems.append(f"{len(ids) - len(set(ids))} duplicate ids across pages")
    if r.indexed != r.stored:
        problems.append(f"{r.indexed} 'indexed' log lines of {r.stored} stored")
    if r.unique_message_ids != r.searchable:
        problems.append(f"{r.unique_message_ids} distinct Message-IDs of {r.searchable}")
    if problems:
        if r.status == "ok":
            r.status = "not-searchable"
        r.notes.append("FAIL: " + "; ".join(problems))


# -- the `inlet up` run (bench/pipeline_latency.py's steps) ------------------------------


def run_inlet_up(args: argparse.Namespace, work: Path) -> pl.Result:
    result = pl.Result(messages=args.messages, size=args.size, sessions=args.sessions)
    data_dir, logs = work / "up-data", work / "up-logs"
    env = {**os.environ, "XDG_STATE_HOME": str(work / "up-state")}
    pl_args = argparse.Namespace(
        messages=args.messages, size=args.size, sessions=args.sessions, timeout=args.timeout
    )
    server: Child | None = None
    ls_pid = pid_file_state()
    try:
        server, port = pl.start_inlet(data_dir, logs, env)
        jiffies0, t0 = machine_jiffies(), time.time()
        ls0 = tree_cpu(ls_pid) if ls_pid else {}
        pl.measure(pl_args, result, server, port, data_dir, logs, env)
        jiffies1, wall = machine_jiffies(), time.time() - t0
        ls1 = tree_cpu(ls_pid) if ls_pid else {}
        busy = (jiffies1[0] - jiffies0[0]) / max(1, jiffies1[1] - jiffies0[1])
        ls_cores = (sum(ls1.values()) - sum(v for p, v in ls0.items() if p in ls1)) / wall
        result.notes.append(
            f"machine busy {busy * (os.cpu_count() or 1):.2f} cores over the send and index "
            f"({wall:.1f} s, the search check included); the idle LocalStack used "
            f"{ls_cores:.2f} of them"
        )
    except RuntimeError as exc:
        result.status = "start-failed" if server is None else result.status
        result.notes.append(str(exc))
    finally:
        if server is not None:
            result.server_rc, result.server_killed = stop(server)
            result.relay = relay_metrics(server.stdout)
            if result.server_rc != 0 or result.server_killed:
                result.notes.append(
                    f"inlet up exit {result.server_rc}, killed={result.server_killed}: "
                    f"{tail(server.stderr, 3)}"
                )
    return result


# -- output ------------------------------------------------------------------------------


def ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b == 0:
        return "-"
    return f"{a / b:.3g}x"


def report(
    args: argparse.Namespace,
    started: datetime,
    tier: TierInfo,
    up: pl.Result | None,
    t: TierResult | None,
    wall_s: float,
) -> Path:
    print()
    print(f"Inlet latency on the LocalStack tier, {started:%Y-%m-%d %H:%M:%S} UTC")
    print(f"nproc={os.cpu_count()}  {cpu_model()}")
    print(
        f"load: smtp-source -s {args.sessions} -m {args.messages} -l {args.size} (one "
        f"connection per message), all on {HOST}"
    )
    print("latency: from the relay's 'stored' (the 250) to searchable (index commit / 'indexed')")
    tl = t.latency_ms if t else {}
    ul = up.latency_ms if up else {}
    rows = []
    for key in ("p50", "p90", "p99", "max"):
        u, v = ul.get(key), tl.get(key)
        rows.append([f"{key} (ms)", fmt(u), fmt(v), ratio(v, u)])
    u_tp = up.indexed_msgs_per_s if up else None
    t_tp = t.indexed_msgs_per_s if t else None
    rows.append(["indexed msgs/s", fmt(u_tp), fmt(t_tp), ratio(t_tp, u_tp)])
    u_cpu = up.cpu_ms_per_msg if up else None
    t_cpu = t.cpu.get("pipeline_ms_per_msg") if t else None
    rows.append(["pipeline CPU ms/msg", fmt(u_cpu, 2), fmt(t_cpu, 2), ratio(t_cpu, u_cpu)])
    print("\n== 250 -> searchable ==")
    print(table(("", "inlet up", "LocalStack", "LocalStack / inlet up"), rows))
    rows = [
        ["messages sent / stored / indexed", counts(up), counts(t)],
        ["send (smtp-source wall)", send(up), send(t)],
        ["drain after the last send", fmt(up.drain_s if up else None, 2, " s"), tdrain(t)],
        ["searchable (verified)", str(up.searchable) if up else "-", tsearch(t)],
        ["status", up.status if up else "skipped", t.status if t else "-"],
    ]
    print(table(("", "inlet up", "LocalStack"), rows))
    if t:
        report_tier(t)
    print("\n== the tier ==")
    print(f"  {tier.tier_up_line or 'tier up: -'}")
    if tier.fallback:
        print(f"  NOTE: {tier.fallback}")
    if tier.started_pid:
        print(f"  LocalStack started by this run (pid {tier.started_pid}), stopped at the end")
        print(f"  set-up time, tier up's own figure: {fmt(tier.tier_up_s, 1, ' s')}")
        print(f"  tier up wall time (Python start-up included): {tier.tier_up_wall_s:.1f} s")
        print(f"  {tier.tier_down or 'tier down: -'}")
    elif tier.reused_pid:
        print(f"  reused the running LocalStack (pid {tier.reused_pid}), left running")
        if tier.tier_up_s is not None:
            print(f"  tier up (redeploy onto it) took {fmt(tier.tier_up_s, 1, ' s')}")
    interval, default = tier.esm_poll_interval_s, LOCALSTACK_ESM_POLL_INTERVAL_DEFAULT_S
    if tier.started_pid is None:
        setting = f"as the running LocalStack was started (server.py sets none: {default:g} s)"
    elif interval is not None:
        setting = f"{interval:g} s"
    else:
        setting = f"not set (LocalStack's default, {default:g} s)"
    print(f"  {ESM_POLL_VARIABLE}: {setting}")
    if tier.synth_s is not None:
        print(f"  make synth: {tier.synth_s:.1f} s")
    print("\n== anchors (bench/README.md, section Anchors; CPU ms per 10 KiB msg, 20 sessions) ==")
    print(f"  stock aiosmtpd, discard: {pl.ANCHORS['stock_aiosmtpd_10k_cpu_ms']:g} ms")
    print(f"  aiosmtpd + boto3 put_object -> moto: {pl.ANCHORS['naive_s3_10k_cpu_ms']:g} ms")
    relay_ms = t.cpu.get("relay_ms_per_msg_send") if t else None
    up_cpu = up.cpu_ms_per_msg if up else None
    print(f"  this run, inlet up (relay + parse + index): {pl.fmt(up_cpu, 3, ' ms')}")
    print(f"  this run, inlet relay -> LocalStack S3 (relay alone): {fmt(relay_ms, 3, ' ms')}")
    print("\n== notes ==")
    notes = [*(f"inlet up: {n}" for n in (up.notes if up else []))]
    notes += [f"LocalStack: {n}" for n in (t.notes if t else [])]
    print("\n".join(f"  {n}" for n in notes) if notes else "  none")
    print(f"\nrun time: {wall_s:.0f} s")
    path = write_json(args, started, tier, up, t, wall_s)
    print(f"JSON: {path}")
    return path


def counts(r: Any) -> str:
    if r is None:
        return "-"
    return f"{r.messages} / {r.stored} / {r.indexed}"


def send(r: Any) -> str:
    if r is None:
        return "-"
    return f"{r.send_s:.2f} s ({r.send_msgs_per_s:.1f} msgs/s)"


def tdrain(t: TierResult | None) -> str:
    return fmt(t.drain_s if t else None, 2, " s")


def tsearch(t: TierResult | None) -> str:
    if t is None:
        return "-"
    return f"{t.searchable} (DynamoIndex.search), {t.unique_message_ids} distinct Message-IDs"


def report_tier(t: TierResult) -> None:
    print("\n== LocalStack: where the time goes, per message (ms) ==")
    names = {
        "parse_wait": "250 -> parse Lambda starts the record (parsed_at)",
        "parse_work": "parse of the record (parsed_at -> 'parsed')",
        "index_stage": "'parsed' -> 'indexed' (index queue + index Lambda)",
    }
    rows = []
    for key, label in names.items():
        s = t.stages_ms.get(key, {})
        share = s.get("share_of_latency")
        rows.append(
            [
                label,
                fmt(s.get("p50")),
                fmt(s.get("p90")),
                fmt(s.get("max")),
                "-" if share is None else f"{share * 100:.1f} %",
            ]
        )
    print(table(("stage", "p50", "p90", "max", "share of summed latency"), rows))
    print("\n== LocalStack: the functions' invocations (event source mapping -> Lambda) ==")
    rows = []
    for kind in ("parse", "index"):
        f = t.functions.get(kind) or {}
        esm = f.get("esm", {})
        gaps = f.get("gap_ms_backlogged", {})
        rows.append(
            [
                kind,
                f"{esm.get('batch_size')} / {esm.get('max_batching_window_s')} s / "
                f"{esm.get('max_concurrency')}",
                str(f.get("invocations", "-")),
                fmt((f.get("records_per_invocation") or {}).get("mean"), 2),
                str(f.get("max_concurrent", "-")),
                fmt((f.get("duration_ms") or {}).get("p50")),
                f"{fmt(gaps.get('p50'))} ({fmt(gaps.get('min'))}-{fmt(gaps.get('max'))}) "
                f"n={f.get('backlogged_gaps', 0)}",
                fmt(f.get("busy_fraction"), 2),
                fmt(f.get("throughput_msgs_per_s"), 2),
                fmt(f.get("model_msgs_per_s"), 2),
            ]
        )
    header = (
        "fn",
        "ESM batch / window / max conc.",
        "invocations",
        "records/inv",
        "max concurrent",
        "duration p50 ms",
        "idle gap while backlogged, ms p50 (min-max)",
        "busy",
        "msgs/s",
        "model msgs/s",
    )
    print(table(header, rows))
    print("  model msgs/s = mean records per invocation / (mean gap + mean duration)")
    q = t.queues
    peaks = [(q.get(k) or {}).get("peak_visible") for k in ("parse", "index")]
    print(
        f"  queue depth ({SAMPLE_SECONDS:g} s samples): parse peak {peaks[0]} visible, "
        f"index peak {peaks[1]} visible"
    )
    p = t.probe
    lp = p.get("log_to_seen_ms") or {}
    print(
        f"  probe (DynamoIndex.get every {p.get('interval_s')} s, {p.get('queries')} queries): "
        f"{p.get('found')}/{p.get('probed')} found, {p.get('bracketed')} after a miss; the "
        f"'indexed' line fell between the miss and the hit for {p.get('inside_bracket')}, after "
        f"the hit for {p.get('line_after_seen')}; line -> hit {fmt(lp.get('min'))}.."
        f"{fmt(lp.get('max'))} ms"
    )
    first = [fmt((t.functions.get(k) or {}).get("first_wait_ms")) for k in ("parse", "index")]
    print(
        f"  first invocation's wait after the first arrival (ms): parse {first[0]}, index "
        f"{first[1]} (an idle mapping backs off between empty polls)"
    )
    c = t.cpu
    wall = c.get("wall_s") or 1.0
    main = (c.get("localstack_main_cpu_s") or 0.0) / wall
    lambdas = (c.get("localstack_tree_cpu_s") or 0.0) / wall - main
    print(
        f"  CPU over the run ({wall:.0f} s), in cores: machine busy "
        f"{fmt(c.get('machine_busy_cores'), 2)} of {os.cpu_count()}: LocalStack {main:.2f} + its "
        f"{c.get('lambda_processes')} Lambda processes {lambdas:.2f}, relay "
        f"{c.get('relay_cpu_s', 0) / wall:.2f}, bench + smtp-source "
        f"{c.get('bench_and_smtp_source_cpu_s', 0) / wall:.2f}, other processes "
        f"{fmt(c.get('other_processes_cores'), 2)}"
    )
    print(
        f"  of the LocalStack figure, the bench's own requests: {c.get('bench_requests')} "
        f"({(c.get('bench_requests') or 0) / wall:.1f}/s: queue samples, probe, index log)"
    )
    print(
        f"  per message: LocalStack + Lambdas {fmt(c.get('localstack_tree_ms_per_msg'), 1)} ms "
        f"CPU; relay {fmt(c.get('relay_ms_per_msg_send'), 3)} ms CPU during the send"
    )


def write_json(
    args: argparse.Namespace,
    started: datetime,
    tier: TierInfo,
    up: pl.Result | None,
    t: TierResult | None,
    wall_s: float,
) -> Path:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    path = OUT_DIR / f"localstack-latency-{started:%Y%m%dT%H%M%SZ}.json"
    doc = {
        "started": started.isoformat(),
        "command": [sys.executable, *sys.argv],
        "machine": {"nproc": os.cpu_count(), "cpu": cpu_model(), "python": sys.version},
        "params": vars(args),
        "anchors": {"source": "bench/README.md#anchors", **pl.ANCHORS},
        "run_s": wall_s,
        "tier": asdict(tier),
        "inlet_up": asdict(up) if up else None,
        "localstack": asdict(t) if t else None,
    }
    path.write_text(json.dumps(doc, indent=2) + "\n")
    return path


# -- entry point -------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    started = datetime.now(UTC)
    t0 = time.monotonic()
    tier = TierInfo()
    up: pl.Result | None = None
    t: TierResult | None = None
    with tempfile.TemporaryDirectory(prefix="localstack-latency-") as tmp:
        work = Path(tmp)
        logs = work / "logs"
        logs.mkdir()
        try:
            tier_up(tier, logs, args.esm_poll_interval)
            if not args.no_inlet_up:
                print("== inlet up (bench/pipeline_latency.py's steps) ==", flush=True)
                up = run_inlet_up(args, work)
            print("== LocalStack tier ==", flush=True)
            t = run_tier(args, tier, logs, work)
        except (RuntimeError, OSError, KeyError) as exc:
            t = t or TierResult(messages=args.messages, size=args.size, sessions=args.sessions)
            t.status = "failed"
            t.notes.append(f"{type(exc).__name__}: {exc}")
        finally:
            for child in list(LIVE):
                stop(child, timeout=10)
            tier_down(tier, logs)
            if args.keep:
                kept = Path(tempfile.mkdtemp(prefix="localstack-latency-kept-"))
                shutil.copytree(work, kept, dirs_exist_ok=True)
                print(f"logs kept in {kept}")
        report(args, started, tier, up, t, time.monotonic() - t0)
    ok = t is not None and t.status == "ok" and (up is None or up.status == "ok")
    if not ok:
        print("\nFAILED", file=sys.stderr)
    return 0 if ok else 1


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--messages", type=int, default=1000, help="messages to send (1000)")
    p.add_argument("--size", type=int, default=10240, help="payload bytes, smtp-source -l (10240)")
    p.add_argument("--sessions", type=int, default=10, help="parallel SMTP sessions (10)")
    p.add_argument(
        "--timeout", type=float, default=300, help="seconds for each send, and for inlet up (300)"
    )
    p.add_argument(
        "--index-timeout",
        type=float,
        default=1800,
        help="seconds for the LocalStack tier to index everything after the send (1800)",
    )
    p.add_argument("--probe", type=int, default=10, help="messages probed in DynamoDB (10)")
    p.add_argument(
        "--esm-poll-interval",
        type=float,
        default=None,
        metavar="SECONDS",
        help=f"start LocalStack with {ESM_POLL_VARIABLE} set to this (LocalStack's default: "
        f"{LOCALSTACK_ESM_POLL_INTERVAL_DEFAULT_S:g} s); only when no LocalStack is running",
    )
    p.add_argument("--no-inlet-up", action="store_true", help="measure the LocalStack tier only")
    p.add_argument("--keep", action="store_true", help="keep the logs (tier up, relay, ...)")
    args = p.parse_args(argv)
    if args.esm_poll_interval is not None and args.esm_poll_interval < 0:
        p.error("--esm-poll-interval must be at least 0")
    if args.messages < 1 or args.size < 1 or args.sessions < 1 or args.probe < 0:
        p.error("--messages, --size and --sessions must be at least 1, --probe at least 0")
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
