"""`inlet relay` as a process on the LocalStack tier, when things go wrong under it.

1. S3 fails between the relay and LocalStack (tests/localstack/fault_proxy.py: 500s, 503s,
   resets before and after the operation, hangs): over a thousand messages on twenty concurrent
   sessions, every end of DATA is answered 250 or 4xx, never 5xx, and every 250 names a message
   stored byte for byte with a readable envelope. What the refused attempts left in the bucket
   is counted, reported and asserted to be nothing: no raw object without a 250, no envelope
   without its raw object, no open multipart upload.
2. The relay is killed (SIGKILL) while sessions are in the middle of DATA, some of them in the
   middle of a multipart upload: no 250 for those, every message that got one is intact, and
   nothing readable is left of the others.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import re
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from botocore.exceptions import ClientError

from inlet.blobstore.s3 import MIN_PART_SIZE, S3BlobStore
from inlet.errors import InletError
from inlet.ids import id_time
from inlet.keys import ENVELOPE_PREFIX, RAW_PREFIX, envelope_key, id_from_key, raw_key
from inlet.message_store import MessageStore
from relay.trace import received_header
from tests.localstack.conftest import Deployment
from tests.localstack.fault_proxy import WRITE_OPERATIONS, FaultProxy
from tests.processes import inlet_process
from tests.support import RawSMTP, queued_id

pytestmark = [pytest.mark.localstack, pytest.mark.timeout(900)]

DOMAIN = "staging.example.com"  # INLET_DOMAINS of the deployed staging relay
HELO = "client.test"
RELAY_HOSTNAME = "relay.test"  # what tests.processes.inlet_process passes as --hostname
MIB = 1024 * 1024
# The relay's S3 blob store streams a message once it outgrows one part (max_single_put, the
# default part size: S3's 5 MiB minimum); these sizes go multipart, with one or two parts.
BIG_SIZES = (MIN_PART_SIZE + MIB // 2, 7 * MIB)
MEDIUM_SIZES = (256 * 1024, MIB)  # one PutObject with a file body (Expect: 100-continue)
SMALL_SIZES = (300, 48 * 1024)  # one PutObject, the envelope in the object's metadata

SEED = 20240611
MESSAGES = 1000
SESSIONS = 20
PER_CONNECTION = 10  # messages sent on one SMTP connection before QUIT and a new connection
FAULT_RATE = 0.12
HANG_SECONDS = 2.5
SEND_DEADLINE = 420.0  # seconds for all the sending in the fault test
REPLY_TIMEOUT = 180.0  # one SMTP reply, the end of DATA of a big message through faults included
MULTIPART_OPERATIONS = ("CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload")


# -- messages -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Corpus:
    """Deterministic, unique messages: the content of message `index` can be made again to
    check what was stored, so no test holds hundreds of megabytes while it runs."""

    token: str
    seed: int = SEED

    def size_class(self, index: int) -> str:
        if index % 10 == 7:
            return "big"
        if index % 10 == 3:
            return "medium"
        return "small"

    def content(self, index: int, size_class: str | None = None) -> bytes:
        """Message `index`: CRLF lines of at most 78 characters, one body line led by a dot
        (it travels dot-stuffed), about the size its class draws."""
        kind = size_class or self.size_class(index)
        low, high = {"big": BIG_SIZES, "medium": MEDIUM_SIZES, "small": SMALL_SIZES}[kind]
        rng = random.Random(f"{self.seed}/{self.token}/{index}/{kind}")
        target = rng.randint(low, high)
        head = (
            f"From: <{mail_from(index)}>\r\n"
            f"To: <{rcpt_to(index)}>\r\n"
            f"Subject: relay fault run {self.token} message {index} ({kind})\r\n"
            f"Message-ID: <{index}.{self.token}@relay-faults.test>\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=us-ascii\r\n"
            "\r\n"
            f".{index} starts with a dot, as the stuffing test wants\r\n"
        ).encode("ascii")
        # base64 lines are 76 characters and a newline: 78 bytes of line for 57 random ones.
        random_bytes = max(0, (target - len(head)) * 57 // 78)
        body = base64.encodebytes(rng.randbytes(random_bytes)).replace(b"\n", b"\r\n")
        return head + body


def mail_from(index: int) -> str:
    return f"sender{index}@example.org"


def rcpt_to(index: int) -> str:
    return f"rcpt{index % 7}@{DOMAIN}"


def stuffed(content: bytes) -> bytes:
    """`content` as DATA carries it, without the end-of-data line (RFC 5321 §4.5.2)."""
    data = b"." + content if content.startswith(b".") else content
    return data.replace(b"\r\n.", b"\r\n..")


def open_session(port: int, timeout: float = REPLY_TIMEOUT) -> RawSMTP:
    client = RawSMTP(port, timeout=timeout)
    greeting = client.reply()
    assert greeting.startswith("220"), greeting
    ehlo = client.cmd(f"EHLO {HELO}")
    assert ehlo.startswith("250"), ehlo
    return client


def start_message(client: RawSMTP, index: int) -> None:
    """MAIL, RCPT and DATA for message `index`, each answered as it must be."""
    for command, code in (
        (f"MAIL FROM:<{mail_from(index)}>", "250"),
        (f"RCPT TO:<{rcpt_to(index)}>", "250"),
        ("DATA", "354"),
    ):
        reply = client.cmd(command)
        assert reply.startswith(code), f"{command}: {reply!r}"


# -- the store as it is, past any proxy -------------------------------------------------------


def message_store(deployment: Deployment, bucket: str) -> MessageStore:
    return MessageStore(S3BlobStore(deployment.client("s3"), bucket))


def ids_under(s3: Any, bucket: str, prefix: str) -> set[str]:
    found: set[str] = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        found.update(id_from_key(item["Key"]) for item in page.get("Contents", []))
    return found


def open_uploads(s3: Any, bucket: str, prefix: str = "") -> list[dict[str, Any]]:
    uploads: list[dict[str, Any]] = []
    pages = s3.get_paginator("list_multipart_uploads").paginate(Bucket=bucket, Prefix=prefix)
    for page in pages:
        uploads.extend(page.get("Uploads", []))
    return uploads


def stored_problem(
    messages: MessageStore, message_id: str, index: int, content: bytes
) -> str | None:
    """None if message `index` is stored as `message_id` exactly as sent (behind the relay's
    trace header, made again here), with its envelope; else what is wrong with it."""
    header = received_header(
        helo=HELO,
        client_ip="127.0.0.1",
        by_host=RELAY_HOSTNAME,
        protocol="ESMTP",
        message_id=message_id,
        rcpt_to=[rcpt_to(index)],
        when=id_time(message_id),
    )
    expected = header + content
    try:
        raw = messages.load_raw(message_id)
    except InletError as exc:
        return f"message {index} ({message_id}): raw object unreadable: {exc!r}"
    if raw != expected:
        differs = next(
            (i for i, (a, b) in enumerate(zip(raw, expected, strict=False)) if a != b),
            min(len(raw), len(expected)),
        )
        return (
            f"message {index} ({message_id}): {len(raw)} bytes stored, {len(expected)} expected "
            f"(trace header included), first difference at byte {differs}"
        )
    try:
        envelope = messages.load_envelope(message_id)
    except InletError as exc:
        return f"message {index} ({message_id}): envelope unreadable: {exc!r}"
    got = (envelope.id, envelope.size, envelope.sha256, envelope.mail_from, envelope.rcpt_to)
    want = (
        message_id,
        len(raw),
        hashlib.sha256(raw).hexdigest(),
        mail_from(index),
        [rcpt_to(index)],
    )
    if got != want:
        return f"message {index} ({message_id}): envelope {got} is not {want}"
    return None


def check_all(
    messages: MessageStore, corpus: Corpus, accepted: dict[str, tuple[int, str]]
) -> list[str]:
    """stored_problem for every accepted message (id -> (index, size class)), 8 at a time."""

    def check(item: tuple[str, tuple[int, str]]) -> str | None:
        message_id, (index, kind) = item
        return stored_problem(messages, message_id, index, corpus.content(index, kind))

    with ThreadPoolExecutor(8) as pool:
        return [p for p in pool.map(check, accepted.items()) if p is not None]


def report(
    capsys: pytest.CaptureFixture[str],
    record_property: Any,
    title: str,
    values: dict[str, Any],
) -> None:
    """Show `values` in the run whatever -s says, and keep them in the JUnit report."""
    with capsys.disabled():
        print(f"\n{title}:")
        for name, value in values.items():
            print(f"  {name}: {value}")
    for name, value in values.items():
        record_property(name, json.dumps(value, sort_keys=True, default=str))


def relay_log(tmp_path: Path) -> tuple[dict[str, int], dict[str, int], list[str]]:
    """From the relay's log: how often a refused attempt's cleanup failed too, why messages
    were not stored (ids and dates masked, so the reasons can be counted), and their ids."""
    text = (tmp_path / "stderr").read_text() + (tmp_path / "stdout").read_text()
    patterns = {
        "not_stored": r"not stored",
        "cleanup_delete_failed": r"could not remove",
        "abort_failed": r"abort of multipart upload failed",
        "tracebacks": r"Traceback",
    }
    counts = {name: len(re.findall(pattern, text)) for name, pattern in patterns.items()}
    reasons: Counter[str] = Counter()
    refused: list[str] = []
    for line in text.splitlines():
        if match := re.search(r"message (\S+) not stored:", line):
            refused.append(match.group(1))
            reason = line.split("not stored:", 1)[1].split('"', 1)[0].strip()
            reason = re.sub(r"\d{4}/\d{2}/\d{2}/", "<day>/", reason)
            reasons[re.sub(r"[0-9A-HJKMNP-TV-Z]{26}", "<id>", reason)] += 1
    return counts, dict(reasons), refused


def faults_by_key(proxy: FaultProxy, bucket: str) -> dict[str, list[tuple[int, str]]]:
    """Object key -> the faults its requests met, as (sequence number, "Operation/kind")."""
    found: dict[str, list[tuple[int, str]]] = {}
    prefix = f"/{bucket}/"
    for record in proxy.history():
        path = urlsplit(record.target).path
        if record.kind is not None and path.startswith(prefix):
            key = unquote(path.removeprefix(prefix))
            found.setdefault(key, []).append((record.seq, f"{record.operation}/{record.kind}"))
    return found


def causes(faults: dict[str, list[tuple[int, str]]], message_ids: Iterable[str]) -> dict[str, int]:
    """How many of `message_ids` met which faults, in order, on their raw and envelope keys."""
    signatures: Counter[str] = Counter()
    for message_id in message_ids:
        met = sorted(faults.get(raw_key(message_id), []) + faults.get(envelope_key(message_id), []))
        signatures[", ".join(fault for _, fault in met) or "no fault on its keys"] += 1
    return dict(signatures)


# -- 1. S3 faults between the relay and LocalStack -------------------------------------------


@dataclass
class Outcome:
    """What became of one message: the reply to the end of its DATA, or why there was none."""

    index: int
    size_class: str
    reply: str | None = None
    error: str | None = None


@dataclass
class SendLog:
    outcomes: dict[int, Outcome] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, outcome: Outcome) -> None:
        with self.lock:
            assert outcome.index not in self.outcomes, outcome
            self.outcomes[outcome.index] = outcome


def send_share(
    port: int, corpus: Corpus, indexes: list[int], log: SendLog, deadline: float
) -> None:
    """One session's share of the messages, PER_CONNECTION to a connection; every message is
    sent once (a 4xx is not retried: the counts are of first attempts)."""
    pending = list(indexes)
    while pending and time.monotonic() < deadline:
        batch, pending = pending[:PER_CONNECTION], pending[PER_CONNECTION:]
        client = open_session(port)
        try:
            for n, index in enumerate(batch):
                kind = corpus.size_class(index)
                if time.monotonic() >= deadline:
                    pending = batch[n:] + pending
                    break
                try:
                    start_message(client, index)
                    client.send(stuffed(corpus.content(index, kind)) + b".\r\n")
                    reply = client.reply().strip()
                except OSError as exc:  # ConnectionError and TimeoutError among them
                    # The relay never drops a session on its own: a lost reply is a finding.
                    log.record(Outcome(index, kind, error=f"{type(exc).__name__}: {exc}"))
                    pending = batch[n + 1 :] + pending
                    break
                log.record(Outcome(index, kind, reply=reply))
            else:
                client.cmd("QUIT")
        finally:
            client.close()
    for index in pending:
        log.record(Outcome(index, corpus.size_class(index), error="not sent before the deadline"))


@pytest.fixture
def scratch_bucket(deployment: Deployment) -> Iterator[str]:
    """A fresh bucket of this test's own. Not the deployed one: its notifications would feed
    every message to the Lambdas, whose parsed/ and attachments/ writes (and their reads) would
    mix into the counts of what the relay's refused attempts left behind."""
    s3 = deployment.client("s3")
    name = f"inlet-relay-faults-{uuid.uuid4().hex[:12]}"
    region = deployment.tier.region
    if region == "us-east-1":
        s3.create_bucket(Bucket=name)
    else:
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})
    try:
        yield name
    finally:
        for upload in open_uploads(s3, name):
            s3.abort_multipart_upload(Bucket=name, Key=upload["Key"], UploadId=upload["UploadId"])
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
            objects = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if objects:
                s3.delete_objects(Bucket=name, Delete={"Objects": objects, "Quiet": True})
        s3.delete_bucket(Bucket=name)


def test_s3_faults_get_250_or_4xx_and_every_250_is_stored(
    deployment: Deployment,
    scratch_bucket: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    record_property: Any,
) -> None:
    started = time.monotonic()
    corpus = Corpus(uuid.uuid4().hex[:10])
    log = SendLog()
    proxy = FaultProxy(
        deployment.tier.endpoint,
        seed=SEED,
        rate=FAULT_RATE,
        # Every write the relay makes, its cleanup's deletes and aborts included; all five kinds.
        operations=WRITE_OPERATIONS,
        hang_seconds=HANG_SECONDS,
    )
    with proxy:
        # S3 only goes through the proxy; any other service stays on AWS_ENDPOINT_URL.
        env = {
            **deployment.env,
            "INLET_BUCKET": scratch_bucket,
            "AWS_ENDPOINT_URL_S3": proxy.endpoint,
        }
        with inlet_process(tmp_path, "relay", env=env) as (proc, port, _):
            deadline = time.monotonic() + SEND_DEADLINE
            shares = [list(range(MESSAGES))[s::SESSIONS] for s in range(SESSIONS)]
            with ThreadPoolExecutor(SESSIONS) as pool:
                sessions = [
                    pool.submit(send_share, port, corpus, share, log, deadline) for share in shares
                ]
                for session in sessions:
                    session.result(timeout=SEND_DEADLINE + 2 * REPLY_TIMEOUT)
            sent_seconds = time.monotonic() - started
            proxy.pause()  # no more faults: what is in the bucket now is what stays
            proc.terminate()
            exit_code = proc.wait(60)
        stats = proxy.stats()
        proxy_errors = proxy.errors()
        faults = faults_by_key(proxy, scratch_bucket)

    outcomes = [log.outcomes[i] for i in range(MESSAGES)]
    accepted = {
        queued_id(o.reply): (o.index, o.size_class)
        for o in outcomes
        if o.reply is not None and o.reply.startswith("250")
    }
    temporary = [o for o in outcomes if o.reply is not None and o.reply.startswith("4")]
    permanent = [o for o in outcomes if o.reply is not None and o.reply.startswith("5")]
    other = [o for o in outcomes if o.reply is not None and o.reply[:1] not in "245"]
    lost = [o for o in outcomes if o.reply is None]

    s3 = deployment.client("s3")
    messages = message_store(deployment, scratch_bucket)
    problems = check_all(messages, corpus, accepted)
    raw_ids = ids_under(s3, scratch_bucket, RAW_PREFIX)
    envelope_ids = ids_under(s3, scratch_bucket, ENVELOPE_PREFIX)
    uploads = open_uploads(s3, scratch_bucket)
    orphan_raw = raw_ids - accepted.keys()
    readable_orphans = sum(1 for message_id in orphan_raw if messages.exists(message_id))
    orphan_envelopes = envelope_ids - raw_ids
    upload_ids = [id_from_key(u["Key"]) for u in uploads]
    log_counts, not_stored_reasons, not_stored_ids = relay_log(tmp_path)
    (tmp_path / "outcomes.json").write_text(  # every reply, for a closer look
        json.dumps([asdict(o) for o in outcomes], indent=1)
    )

    by_kind: Counter[str] = Counter()
    for (_operation, kind), n in stats["by_fault"].items():
        by_kind[kind] += n
    faults_by_operation: Counter[str] = Counter()
    for (operation, _kind), n in stats["by_fault"].items():
        faults_by_operation[operation] += n
    report(
        capsys,
        record_property,
        "relay under S3 faults",
        {
            "messages": MESSAGES,
            "sessions": SESSIONS,
            "accepted_250": len(accepted),
            "accepted_250_by_size": dict(Counter(kind for _, kind in accepted.values())),
            "refused_4xx": len(temporary),
            "refused_4xx_by_size": dict(Counter(o.size_class for o in temporary)),
            "refused_4xx_replies": dict(Counter(o.reply for o in temporary)),
            "refused_4xx_causes": causes(faults, not_stored_ids),
            "refused_5xx": len(permanent),
            "no_reply": len(lost),
            "leftover_raw_without_250": len(orphan_raw),
            "leftover_raw_without_250_readable": readable_orphans,
            "leftover_raw_without_250_causes": causes(faults, orphan_raw),
            "leftover_envelope_without_raw": len(orphan_envelopes),
            "leftover_envelope_without_raw_causes": causes(faults, orphan_envelopes),
            "leftover_open_multipart_uploads": len(uploads),
            "leftover_open_multipart_uploads_of_a_250": len(set(upload_ids) & accepted.keys()),
            "leftover_open_multipart_uploads_causes": causes(faults, upload_ids),
            "relay_log": log_counts,
            "relay_not_stored_reasons": not_stored_reasons,
            "proxy_requests": stats["requests"],
            "proxy_faults": stats["faults"],
            "proxy_requests_by_operation": stats["by_operation"],
            "proxy_faults_by_operation": dict(faults_by_operation),
            "proxy_faults_by_kind": dict(by_kind),
            "proxy_faults_by_operation_and_kind": {
                f"{op}/{kind}": n for (op, kind), n in sorted(stats["by_fault"].items())
            },
            "proxy_hangs_finished": stats["hangs_finished"],
            "proxy_errors": proxy_errors[:20],
            "send_seconds": round(sent_seconds, 1),
            "total_seconds": round(time.monotonic() - started, 1),
        },
    )

    assert not permanent, [(o.index, o.size_class, o.reply) for o in permanent]
    assert not other, [(o.index, o.reply) for o in other]
    assert not lost, [(o.index, o.size_class, o.error) for o in lost]
    assert len(accepted) + len(temporary) == MESSAGES
    assert not problems, problems[:20]
    assert exit_code == 0, (tmp_path / "stderr").read_text()[-4000:]
    # Not vacuous: the faults were there, of every kind, on every step of a multipart upload,
    # and the proxy understood every request it read.
    assert not [e for e in proxy_errors if e.startswith("bad request")], proxy_errors
    assert set(by_kind) == {"error500", "slowdown503", "reset_before", "reset_after", "hang"}
    for operation in MULTIPART_OPERATIONS:
        assert faults_by_operation[operation] >= 1, (operation, stats["by_fault"])
    assert Counter(kind for _, kind in accepted.values())["big"] > 0
    # A refused or failed attempt leaves nothing that could be taken for a message.
    assert not orphan_raw, sorted(orphan_raw)
    assert not orphan_envelopes, sorted(orphan_envelopes)
    assert not uploads, uploads


# -- 2. kill -9 of the relay mid-DATA ---------------------------------------------------------

# Message i of this test goes on session i: these complete (250) before the kill...
COMPLETED_KINDS = ("small", "medium", "small", "big", "small")
# ...and these are in the middle of DATA when it comes. "big": past the first part, which is
# sent as soon as it is complete, so its multipart upload is open with a part stored.
# "whole-but-the-end": all of it and the dot of the end-of-data line, but not its CRLF.
KILLED_KINDS = ("big", "big", "big", "medium", "whole-but-the-end", *("small",) * 10)
PARTS_DEADLINE = 60.0


def new_raw_uploads(s3: Any, bucket: str, before: set[str]) -> list[dict[str, Any]]:
    """Open uploads under raw/ (the relay writes nothing else; the pipeline's Lambdas may have
    uploads of their own in flight, of a big message's parsed document) not in `before`."""
    return [u for u in open_uploads(s3, bucket, RAW_PREFIX) if u["UploadId"] not in before]


def partial(corpus: Corpus, index: int, kind: str) -> bytes:
    """What a session killed in DATA has sent of message `index`."""
    if kind == "whole-but-the-end":
        return stuffed(corpus.content(index, "small")) + b"."
    whole = stuffed(corpus.content(index, kind))
    if kind == "big":
        return whole[: min(MIN_PART_SIZE + MIB, len(whole) - 4096)]
    return whole[: len(whole) * 2 // 3]


def wait_for_parts(s3: Any, bucket: str, before: set[str], count: int) -> None:
    """Until `count` new uploads under raw/ each have a part stored."""
    deadline = time.monotonic() + PARTS_DEADLINE
    with_parts: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        with_parts = [
            u
            for u in new_raw_uploads(s3, bucket, before)
            if s3.list_parts(Bucket=bucket, Key=u["Key"], UploadId=u["UploadId"]).get("Parts")
        ]
        if len(with_parts) >= count:
            return
        time.sleep(0.2)
    raise AssertionError(f"{len(with_parts)} of {count} uploads have a part: {with_parts}")


def kill_in_data(
    proc: Any, port: int, corpus: Corpus, s3: Any, bucket: str, uploads_before: set[str]
) -> tuple[dict[str, tuple[int, str]], dict[int, str]]:
    """Complete COMPLETED_KINDS, leave KILLED_KINDS in DATA, SIGKILL the relay: the accepted
    messages (id -> (index, kind)), and what each killed session got (index -> outcome)."""
    accepted: dict[str, tuple[int, str]] = {}
    killed: dict[int, str] = {}
    clients: list[RawSMTP] = []
    try:
        for _ in range(len(COMPLETED_KINDS) + len(KILLED_KINDS)):
            clients.append(open_session(port, timeout=60))
        for index, kind in enumerate(COMPLETED_KINDS):
            start_message(clients[index], index)
            clients[index].send(stuffed(corpus.content(index, kind)) + b".\r\n")
            accepted[queued_id(clients[index].reply().strip())] = (index, kind)
        in_data = list(enumerate(KILLED_KINDS, start=len(COMPLETED_KINDS)))
        for index, kind in in_data:
            start_message(clients[index], index)
            clients[index].send(partial(corpus, index, kind))
        # The kill must find the big ones in the middle of their multipart upload.
        wait_for_parts(s3, bucket, uploads_before, KILLED_KINDS.count("big"))
        time.sleep(0.5)  # the others' bytes have been read by now: they are in its buffers
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(10) == -signal.SIGKILL
        for index, _kind in in_data:
            clients[index].sock.settimeout(10)
            try:
                killed[index] = f"reply {clients[index].reply().strip()!r}"
            except ConnectionError as exc:
                killed[index] = f"closed ({type(exc).__name__})"
            except TimeoutError:
                killed[index] = "no answer in 10 s, connection still open"
    finally:
        for client in clients:
            client.close()
    return accepted, killed


def test_kill_9_mid_data_leaves_no_readable_message(
    deployment: Deployment,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    record_property: Any,
) -> None:
    started = time.monotonic()
    corpus = Corpus(uuid.uuid4().hex[:10])
    bucket = deployment.tier.bucket  # the deployed one: its pipeline may parse what is stored
    s3 = deployment.client("s3")
    # The ids of the killed messages are minted at DATA and never told to the client: what they
    # left is found by comparing listings.
    raw_before = ids_under(s3, bucket, RAW_PREFIX)
    envelope_before = ids_under(s3, bucket, ENVELOPE_PREFIX)
    uploads_before = {u["UploadId"] for u in open_uploads(s3, bucket, RAW_PREFIX)}
    try:
        with inlet_process(tmp_path, "relay", env=deployment.env) as (proc, port, _):
            accepted, killed = kill_in_data(proc, port, corpus, s3, bucket, uploads_before)

        problems = check_all(message_store(deployment, bucket), corpus, accepted)
        raw_new = ids_under(s3, bucket, RAW_PREFIX) - raw_before
        envelope_new = ids_under(s3, bucket, ENVELOPE_PREFIX) - envelope_before
        uploads_after = new_raw_uploads(s3, bucket, uploads_before)
        objects_at_upload_keys = []
        for upload in uploads_after:
            try:
                s3.head_object(Bucket=bucket, Key=upload["Key"])
                objects_at_upload_keys.append(upload["Key"])
            except ClientError:
                pass
        upload_ids = {id_from_key(u["Key"]) for u in uploads_after}
        report(
            capsys,
            record_property,
            "relay killed mid-DATA",
            {
                "sessions": len(COMPLETED_KINDS) + len(KILLED_KINDS),
                "accepted_250": len(accepted),
                "killed_in_data": len(killed),
                "killed_sessions_got": dict(Counter(killed.values())),
                "new_raw_objects": len(raw_new),
                "new_raw_objects_without_250": len(raw_new - accepted.keys()),
                "new_envelope_objects_without_250": len(envelope_new - accepted.keys()),
                "open_multipart_uploads_left": len(uploads_after),
                "open_uploads_with_an_object_at_their_key": len(objects_at_upload_keys),
                "total_seconds": round(time.monotonic() - started, 1),
            },
        )
        assert not [i for i, got in killed.items() if not got.startswith("closed")], killed
        assert not problems, problems
        assert raw_new == set(accepted), (raw_new, accepted)
        assert envelope_new <= set(accepted), envelope_new
        # What a killed upload left is not readable: no object under its key, and not one of
        # the accepted messages'. One per session killed in the middle of a multipart upload.
        assert not objects_at_upload_keys, objects_at_upload_keys
        assert not upload_ids & set(accepted), upload_ids
        assert len(uploads_after) == KILLED_KINDS.count("big")
    finally:
        # Not readable, but not to be left for the session's other tests to trip over either.
        for upload in new_raw_uploads(s3, bucket, uploads_before):
            s3.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])


@pytest.mark.parametrize("operation", ["CompleteMultipartUpload", "CreateMultipartUpload"])
def test_an_answer_lost_after_the_upload_acted_is_neither_a_refusal_nor_a_leftover(
    deployment: Deployment, scratch_bucket: str, tmp_path: Path, operation: str
) -> None:
    # The operation happens in S3, then the connection is reset before its answer arrives:
    # botocore retries. A retried Complete finds no upload (NoSuchUpload) because the first
    # one completed it; a retried Create makes a second upload beside the first.
    proxy = FaultProxy(
        deployment.tier.endpoint,
        rate=1.0,
        operations=[operation],  # type: ignore[list-item]
        kinds=["reset_after"],
        max_faults=1,
    )
    content = b"Subject: lost answer\r\n\r\n" + os.urandom(3 * MIB).hex().encode() + b"\r\n"
    with proxy:
        env = {
            **deployment.env,
            "INLET_BUCKET": scratch_bucket,
            "AWS_ENDPOINT_URL_S3": proxy.endpoint,
        }
        with inlet_process(tmp_path, "relay", env=env) as (_, port, _health):
            client = RawSMTP(port)
            client.reply()
            client.cmd(f"EHLO {HELO}")
            client.cmd("MAIL FROM:<a@example.org>")
            client.cmd(f"RCPT TO:<lost@{DOMAIN}>")
            assert client.cmd("DATA").startswith("354")
            client.send(content.replace(b"\r\n.", b"\r\n..") + b".\r\n")
            reply = client.reply()
            client.close()
    assert proxy.stats()["faults"] == 1
    assert reply.startswith("250"), reply
    s3 = deployment.client("s3")
    messages = MessageStore(S3BlobStore(s3, scratch_bucket))
    assert messages.load_raw(queued_id(reply)).endswith(b"\r\n" + content)
    assert open_uploads(s3, scratch_bucket) == []
