"""How long `inlet reindex` takes to rebuild the index: measured on SQLite, estimated for DynamoDB.

1. SQLite (measured). `--count` synthetic parsed documents (default 100,000) are written into a
   temp data dir through MessageStore.save_document: realistic ones (two To, one Cc, a subject,
   a Message-ID, a dozen headers, a text part, one attachment entry), ids from inlet.ids spread
   over 90 days. Generation is not timed. Then a fresh child process runs inlet.reindex.reindex
   into a new SQLite file (what `inlet reindex` does on the data dir) and reports wall time,
   documents/s, CPU ms per document (utime+stime) and peak RSS (VmHWM).
2. DynamoDB (estimated). `--moto-count` documents (default 500) are reindexed into a table on
   moto (in-process, mock_aws), counting every DynamoDB request and the write request units its
   items cost (a botocore event hook). Those per-document figures are extrapolated to `--count`
   documents at on-demand rates, with the assumptions printed beside the figure: nothing is
   measured on real AWS, so it is an estimate.

Usage: .venv/bin/python bench/reindex_bench.py [--count 100000] [--moto-count 500]
       [--call-ms 5] [--s3-ms 15] [--keep]
"""

import argparse
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_DIR))

from inlet import keys  # noqa: E402
from inlet.blobstore.filesystem import FilesystemBlobStore  # noqa: E402
from inlet.document import Document  # noqa: E402
from inlet.envelope import Envelope, TlsInfo  # noqa: E402
from inlet.ids import mint_id  # noqa: E402
from inlet.message_store import MessageStore  # noqa: E402
from inlet.parsing.document import blank_document  # noqa: E402

START = datetime(2026, 1, 1, tzinfo=UTC)
SPAN = timedelta(days=90)

# AWS documentation, "On-demand capacity mode" (initial throughput of a new on-demand table):
# up to 4,000 write request units and 12,000 read request units per second.
NEW_TABLE_WRU_PER_S = 4000
NEW_TABLE_RRU_PER_S = 12000


def document(n: int, message_id: str) -> Document:
    """A parsed document as the parse step writes it for an ordinary business message."""
    received = START + SPAN * (n / 1_000_000)
    envelope = Envelope(
        id=message_id,
        received_at=received.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        mail_from=f"sender{n % 977}@example.org",
        rcpt_to=[f"user{n % 113}@example.com"],
        helo="mx.example.org",
        client_ip="192.0.2.10",
        client_port=40000 + n % 20000,
        proxied_from=None,
        tls=TlsInfo("TLSv1.3", "TLS_AES_256_GCM_SHA384"),
        auth_user=None,
        size=24_000 + n % 5000,
        sha256=f"{n:064x}",
        relay="relay-1",
    )
    doc = blank_document(envelope, "parsed")
    doc.update(
        {
            "message_id": f"<{n}.{message_id}@mail.example.org>",
            "date": envelope.received_at,
            "subject": f"Quarterly report {n}: figures for the regional office",
            "from": [{"name": f"Sender {n % 977}", "address": envelope.mail_from}],
            "to": [
                {"name": "User", "address": f"user{n % 113}@example.com"},
                {"name": "Team", "address": f"team{n % 7}@example.com"},
            ],
            "cc": [{"name": "", "address": f"manager{n % 31}@example.net"}],
            "headers": [
                [name, value]
                for name, value in [
                    ("Received", "from mx.example.org by relay.example.com; " * 2),
                    ("DKIM-Signature", "v=1; a=rsa-sha256; d=example.org; s=s1; " + "b" * 300),
                    ("From", f"Sender <{envelope.mail_from}>"),
                    ("To", "User <user@example.com>, Team <team@example.com>"),
                    ("Cc", "manager@example.net"),
                    ("Subject", "Quarterly report"),
                    ("Date", envelope.received_at),
                    ("Message-ID", f"<{n}@mail.example.org>"),
                    ("MIME-Version", "1.0"),
                    ("Content-Type", 'multipart/mixed; boundary="b1"'),
                ]
            ],
            "text": "Hello,\n\nplease find the figures attached.\n\n" * 8,
            "attachments": [
                {
                    "index": 0,
                    "filename": "report.pdf",
                    "content_type": "application/pdf",
                    "disposition": "attachment",
                    "content_id": None,
                    "size": 18_000,
                    "sha256": f"{n:064x}",
                    "key": keys.attachment_key(message_id, 0, "report.pdf"),
                }
            ],
            "parsed_at": envelope.received_at,
        }
    )
    return doc


def generate(data_dir: Path, count: int) -> None:
    """Write `count` documents (each save is atomic and fsynced: threads overlap the fsyncs)."""
    messages = MessageStore(FilesystemBlobStore(data_dir))
    step_ms = int(SPAN.total_seconds() * 1000 / max(count, 1))
    base_ms = int(START.timestamp() * 1000)

    def save(n: int) -> None:
        message_id = mint_id(base_ms + n * step_ms)
        messages.save_document(message_id, document(n, message_id))

    with ThreadPoolExecutor(8) as pool:
        for _ in pool.map(save, range(count), chunksize=256):
            pass


def vm_hwm_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child(data_dir: str, index_path: str) -> None:
    """Reindex the data dir into a new SQLite file; print the figures as one JSON line."""
    from inlet.index.sqlite import SqliteIndex
    from inlet.reindex import reindex

    messages = MessageStore(FilesystemBlobStore(Path(data_dir)))
    index = SqliteIndex(Path(index_path))
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    report = reindex(messages, index, now=datetime.now(UTC))
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    index.close()
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(
        json.dumps(
            {
                "documents": report.documents,
                "failed": report.failed,
                "wall_s": wall,
                "cpu_s": cpu,
                "peak_rss_mib": vm_hwm_mib(),
            }
        )
    )


class Counted:
    """DynamoDB requests by operation, and the write request units their items cost."""

    def __init__(self) -> None:
        self.operations: Counter[str] = Counter()
        self.write_units = 0
        self.read_units = 0.0

    def __call__(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        name = model.name
        self.operations[name] += 1
        if name == "PutItem":
            self.write_units += _units(params["Item"])
        elif name == "UpdateItem":
            self.write_units += 1  # the MSG item's lookups list: well under 1 KB here
        elif name == "BatchWriteItem":
            for requests in params["RequestItems"].values():
                for request in requests:
                    put = request.get("PutRequest")
                    self.write_units += _units(put["Item"]) if put else 1
        elif name == "GetItem":
            # A consistent read of up to 4 KB is one read unit (an absent item too).
            self.read_units += 1


def _units(item: dict[str, Any]) -> int:
    """Write units of an item: one per KB (attribute names and values, DynamoDB's rule)."""
    return max(1, math.ceil(sum(len(k) + _size(v) for k, v in item.items()) / 1024))


def _size(value: dict[str, Any]) -> int:
    (kind, inner), *_ = value.items()
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        return len(inner)
    if kind == "BOOL":
        return 1
    if kind == "L":
        return 3 + sum(1 + _size(v) for v in inner)
    return len(json.dumps(inner))


def on_moto(count: int, work: Path) -> dict[str, Any]:
    """Reindex `count` documents into a DynamoDB table on moto, counting what it costs."""
    import boto3
    from moto import mock_aws

    from inlet.index.dynamodb import CLIENT_CONFIG, DynamoIndex
    from inlet.reindex import reindex
    from tests.aws import create_index_table

    data_dir = work / "moto-data"
    generate(data_dir, count)
    counted = Counted()
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1", config=CLIENT_CONFIG)
        create_index_table(client, "reindex-bench")
        client.meta.events.register("before-parameter-build.dynamodb", counted)
        started = time.perf_counter()
        report = reindex(
            MessageStore(FilesystemBlobStore(data_dir)),
            DynamoIndex(client, "reindex-bench"),
            now=datetime.now(UTC),
        )
        wall = time.perf_counter() - started
    if report.documents != count or report.failed:
        raise SystemExit(f"the reindex on moto failed: {report}")
    requests = sum(counted.operations.values())
    return {
        "documents": count,
        "operations": dict(counted.operations),
        "requests_per_doc": requests / count,
        "write_requests_per_doc": sum(
            n for op, n in counted.operations.items() if op != "GetItem" and op != "Scan"
        )
        / count,
        "write_units_per_doc": counted.write_units / count,
        "read_units_per_doc": counted.read_units / count,
        "moto_wall_s": wall,
    }


def estimate(moto: dict[str, Any], count: int, call_ms: float, s3_ms: float) -> dict[str, float]:
    # Each document is also one S3 GET (its parsed/ object), made before its index writes.
    sequential = count * (moto["requests_per_doc"] * call_ms + s3_ms) / 1000
    write_floor = count * moto["write_units_per_doc"] / NEW_TABLE_WRU_PER_S
    read_floor = count * moto["read_units_per_doc"] / NEW_TABLE_RRU_PER_S
    return {
        "sequential_s": sequential,
        "throughput_floor_s": max(write_floor, read_floor),
        "estimate_s": max(sequential, write_floor, read_floor),
        "write_units_total": count * moto["write_units_per_doc"],
    }


def run_child(data_dir: Path, index_path: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", str(data_dir), str(index_path)],
        capture_output=True,
        text=True,
        timeout=7200,
        check=False,
        cwd=REPO_DIR,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"the reindex child failed ({done.returncode}): {done.stderr[-2000:]}")
    figures: dict[str, Any] = json.loads(lines[-1])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100_000, help="documents for SQLite")
    parser.add_argument("--moto-count", type=int, default=500, help="documents on moto")
    parser.add_argument(
        "--call-ms",
        type=float,
        default=5.0,
        help="assumed round trip of one DynamoDB request from a host in the region (ms)",
    )
    parser.add_argument(
        "--s3-ms",
        type=float,
        default=15.0,
        help="assumed time of one S3 GET of a small object from a host in the region (ms)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp data dir")
    parser.add_argument("--child", nargs=2, metavar=("DATA_DIR", "INDEX"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    if not 1 <= args.count <= 10_000_000 or not 1 <= args.moto_count <= 100_000:
        raise SystemExit("--count: 1..10,000,000; --moto-count: 1..100,000")
    work = Path(tempfile.mkdtemp(prefix="inlet-reindex-bench-"))
    try:
        for line in bench(work, args.count, args.moto_count, args.call_ms, args.s3_ms):
            print(line, flush=True)
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def bench(work: Path, count: int, moto_count: int, call_ms: float, s3_ms: float) -> Iterator[str]:
    yield f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, data in {work}"
    data_dir = work / "data"
    started = time.perf_counter()
    generate(data_dir, count)
    sizes = [p.stat().st_size for p in list((data_dir / "parsed").rglob("*.json"))[:1000]]
    yield (
        f"generated {count:,} documents (~{sum(sizes) / len(sizes) / 1024:.1f} KiB each) in "
        f"{time.perf_counter() - started:.1f} s (not timed below)"
    )
    sqlite = run_child(data_dir, work / "index.sqlite3")
    if sqlite["documents"] != count or sqlite["failed"]:
        raise SystemExit(f"the reindex on SQLite failed: {sqlite}")
    yield (
        f"SQLite (measured): {count:,} documents in {sqlite['wall_s']:.1f} s wall, "
        f"{count / sqlite['wall_s']:,.0f} docs/s, {sqlite['cpu_s'] * 1000 / count:.2f} CPU ms/doc, "
        f"peak RSS {sqlite['peak_rss_mib']:.0f} MiB "
        f"(index file {(work / 'index.sqlite3').stat().st_size / 2**20:.0f} MiB)"
    )
    moto = on_moto(moto_count, work)
    ops = ", ".join(f"{op} {n / moto_count:.2f}" for op, n in sorted(moto["operations"].items()))
    yield (
        f"DynamoDB on moto (counted, {moto_count} documents): per document {ops}; "
        f"{moto['requests_per_doc']:.2f} requests ({moto['write_requests_per_doc']:.2f} writes), "
        f"{moto['write_units_per_doc']:.2f} write units, {moto['read_units_per_doc']:.2f} read "
        "units"
    )
    figures = estimate(moto, count, call_ms, s3_ms)
    yield (
        f"DynamoDB (ESTIMATE for {count:,} documents, nothing measured on AWS): "
        f"~{figures['estimate_s'] / 60:.1f} min — {count:,} x {moto['requests_per_doc']:.2f} "
        f"DynamoDB requests x {call_ms:g} ms + 1 S3 GET x {s3_ms:g} ms, sequential = "
        f"{figures['sequential_s'] / 60:.1f} min; the "
        f"table's limit ({figures['write_units_total']:,.0f} write units at "
        f"{NEW_TABLE_WRU_PER_S:,} WRU/s, a new on-demand table's initial throughput per the "
        f"AWS docs) alone would allow {figures['throughput_floor_s'] / 60:.1f} min"
    )
    yield (
        "assumptions: one CLI process, one request at a time (inlet reindex is sequential); "
        f"~{call_ms:g} ms per request from a host in the table's region (--call-ms); write "
        f"units from the items' sizes (1 per KB); one S3 GET per document at ~{s3_ms:g} ms "
        "(--s3-ms; the LIST per 1000 keys left out)"
    )
    json_out = REPO_DIR / "bench" / "out"
    json_out.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (json_out / f"reindex-{stamp}.json").write_text(
        json.dumps({"count": count, "sqlite": sqlite, "moto": moto, "estimate": figures}, indent=2)
    )


if __name__ == "__main__":
    main()
