"""INLET_STORE_TIMEOUT: an S3 that never answers gets a 451 in time, not silence, and costs the
relay no more than a bounded time of a worker thread.

`inlet relay` (a process) stores through the fault proxy to moto's server; the proxy holds
requests without an answer for far longer than the deadline (botocore's default read timeout is
60 s, times four attempts). The relay's S3 requests are bounded by its store deadline
(inlet.blobstore.s3.StoreBounds): with a deadline of 2 s, a write request that gets no answer
gives up after 2 s (two attempts of 1 s), each cleanup request (DeleteObject,
AbortMultipartUpload) after 1.5 s (five of 0.3 s), and a commit is followed by at most three
cleanup requests. Connecting to 127.0.0.1 takes no time, so a worker is free again at most
2 + 3 * 1.5 = 6.5 s after the end of DATA: what a hang costs is measured against that."""

import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.aws import moto_server
from tests.localstack.fault_proxy import OPERATIONS, WRITE_OPERATIONS, FaultProxy
from tests.processes import inlet_process, start_data, wait_for
from tests.support import RawSMTP

pytestmark = pytest.mark.integration
DEADLINE = 2
# A worker is free this long after the end of DATA at the latest (the module docstring's
# 6.5 s), with a margin for a loaded machine.
WORKER_FREE_WITHIN = 8
WORKERS = 32  # relay.server.Relay's store threads
DRAIN = 1
HANG = 60
SMALL = b"Subject: nowhere\r\n\r\nhello\r\n.\r\n"


@dataclass(frozen=True)
class S3:
    endpoint: str  # moto's server
    bucket: str  # the test's own: moto's servers in one process share their state


@pytest.fixture
def s3() -> Iterator[S3]:
    with moto_server() as endpoint:
        bucket = f"inlet-deadline-{uuid.uuid4().hex[:12]}"
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
        yield S3(endpoint, bucket)


@contextmanager
def relay(
    tmp_path: Path, s3: S3, proxy: FaultProxy, *args: str
) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """`inlet relay` storing through `proxy`, with the store deadline of this module. Enough
    sessions from 127.0.0.1 for every worker to be busy at once."""
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL_S3": proxy.endpoint,
        "INLET_MAX_SESSIONS_PER_IP": str(2 * WORKERS),
    }
    with inlet_process(
        tmp_path,
        *("relay", "--domains", "example.com", "--bucket", s3.bucket),
        *("--store-timeout", str(DEADLINE), *args),
        env=env,
    ) as (proc, port, _health):
        yield proc, port


def leftovers(s3: S3) -> tuple[list[str], list[str]]:
    """The bucket's keys and its open multipart uploads' keys."""
    client = boto3.client("s3", endpoint_url=s3.endpoint)
    objects = client.list_objects_v2(Bucket=s3.bucket).get("Contents", [])
    uploads = client.list_multipart_uploads(Bucket=s3.bucket).get("Uploads", [])
    return [o["Key"] for o in objects], [u["Key"] for u in uploads]


def log_events(tmp_path: Path) -> list[dict[str, Any]]:
    events = []
    for line in (tmp_path / "stderr").read_text().splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            continue
    return events


def send_multipart_then_hang(proxy: FaultProxy, port: int, marker: bytes) -> RawSMTP:
    """A message of two parts: the first goes up during DATA while S3 answers, then S3 stops
    answering writes and the end of DATA is sent (the commit meets the hang)."""
    client = start_data(port)
    line = marker + b" " + b"x" * 1000 + b"\r\n"
    body = b"Subject: big\r\n\r\n" + line * (6 * 1024)  # about 6 MiB: a part and a bit
    client.send(body)

    def first_part_sent() -> bool:
        return any(r.operation == "UploadPart" and r.kind is None for r in proxy.history())

    wait_for(first_part_sent, timeout=20)
    proxy.resume()
    client.send(b".\r\n")
    return client


def test_a_store_that_never_answers_is_a_451_within_the_deadline(s3: S3, tmp_path: Path) -> None:
    hanging = FaultProxy(
        s3.endpoint, rate=1.0, operations=["PutObject"], kinds=["hang"], hang_seconds=HANG
    )
    with hanging, relay(tmp_path, s3, hanging) as (_, port):
        client = start_data(port)
        client.send(SMALL)
        sent = time.monotonic()
        reply = client.reply()
        waited = time.monotonic() - sent
        # The session goes on: the next command is answered.
        assert client.cmd("NOOP").startswith("250")
        client.close()
    assert reply.startswith("451 4.3.0"), reply
    assert DEADLINE <= waited < DEADLINE + 2, waited
    assert leftovers(s3) == ([], [])


def test_after_a_hang_every_worker_is_free_again_within_the_bound(s3: S3, tmp_path: Path) -> None:
    """Every worker thread takes a commit that meets an S3 hanging every request; once S3
    answers again, the next message is stored as soon as a worker is free."""
    hanging = FaultProxy(
        s3.endpoint, rate=1.0, operations=OPERATIONS, kinds=["hang"], hang_seconds=HANG
    )
    with hanging, relay(tmp_path, s3, hanging) as (_, port):
        clients = [start_data(port) for _ in range(WORKERS)]
        for client in clients:
            client.send(SMALL)
        ended = time.monotonic()
        replies = [client.reply() for client in clients]
        for client in clients:
            client.close()
        assert all(r.startswith("451 4.3.0") for r in replies), replies
        hanging.pause()  # S3 answers again; the requests already held stay held

        stored_at = None
        while stored_at is None and time.monotonic() < ended + 3 * WORKER_FREE_WITHIN:
            client = start_data(port)
            client.send(SMALL)
            if client.reply().startswith("250 2.0.0"):
                stored_at = time.monotonic() - ended
            client.close()
    assert stored_at is not None, "no message stored while the hung calls ran on"
    # The first message that finds a free worker is stored: no worker stayed with a hung call.
    assert stored_at < WORKER_FREE_WITHIN + DEADLINE, stored_at
    objects, uploads = leftovers(s3)
    assert [key.split("/")[0] for key in objects] == ["raw"]
    assert uploads == []


def hang_writes_later(s3: S3) -> FaultProxy:
    """A proxy that will hold every write request without an answer once enabled."""
    return FaultProxy(
        s3.endpoint,
        rate=1.0,
        operations=WRITE_OPERATIONS,
        kinds=["hang"],
        hang_seconds=HANG,
        enabled=False,
    )


def test_a_refused_multipart_attempt_is_cleaned_up_once_s3_answers_again(
    s3: S3, tmp_path: Path
) -> None:
    """The commit and the first cleanup attempts meet the hang; S3 answers again right after
    the 451, and the cleanup, retried, removes the open upload: nothing is left behind."""
    hanging = hang_writes_later(s3)
    with hanging, relay(tmp_path, s3, hanging) as (_, port):
        client = send_multipart_then_hang(hanging, port, b"content")
        reply = client.reply()
        hanging.pause()
        answered = time.monotonic()
        client.close()
        assert reply.startswith("451 4.3.0"), reply
        wait_for(lambda: leftovers(s3) == ([], []), timeout=WORKER_FREE_WITHIN)
        cleaned = time.monotonic() - answered
    assert cleaned < WORKER_FREE_WITHIN
    history = hanging.history()
    # The upload was open when S3 stopped answering: the commit's first write (the envelope)
    # was held, and it was the relay's abort, once answered, that removed the upload.
    assert any(r.operation == "CreateMultipartUpload" and r.kind is None for r in history)
    assert any(r.operation == "PutObject" and r.kind == "hang" for r in history)
    assert any(r.operation == "AbortMultipartUpload" and r.kind is None for r in history)


def test_a_cleanup_that_cannot_be_done_is_logged_in_bounded_time(s3: S3, tmp_path: Path) -> None:
    """S3 does not answer the relay's cleanup either: after a bounded number of attempts, in
    bounded time, the relay logs what it leaves (key and upload id, never content) for the
    bucket's lifecycle rule."""
    hanging = hang_writes_later(s3)
    with hanging, relay(tmp_path, s3, hanging) as (_, port):
        client = send_multipart_then_hang(hanging, port, b"SECRET-CONTENT")
        ended = time.monotonic()
        assert client.reply().startswith("451 4.3.0")
        client.close()

        def abort_logged() -> list[dict[str, Any]]:
            return [e for e in log_events(tmp_path) if e.get("upload_id")]

        wait_for(abort_logged, timeout=WORKER_FREE_WITHIN)
        logged_after = time.monotonic() - ended
        hanging.pause()
    direct = boto3.client("s3", endpoint_url=s3.endpoint)
    uploads = direct.list_multipart_uploads(Bucket=s3.bucket)["Uploads"]
    [event] = abort_logged()
    assert [(u["Key"], u["UploadId"]) for u in uploads] == [(event["key"], event["upload_id"])]
    assert logged_after < WORKER_FREE_WITHIN
    assert "SECRET-CONTENT" not in (tmp_path / "stderr").read_text()


def test_a_relay_with_a_call_hung_in_s3_exits_on_sigterm_within_the_bound(
    s3: S3, tmp_path: Path
) -> None:
    hanging = FaultProxy(
        s3.endpoint, rate=1.0, operations=OPERATIONS, kinds=["hang"], hang_seconds=HANG
    )
    with hanging, relay(tmp_path, s3, hanging, "--drain-seconds", str(DRAIN)) as (proc, port):
        client = start_data(port)
        client.send(SMALL)
        wait_for(lambda: any(r.operation == "PutObject" for r in hanging.history()))
        proc.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        try:
            code = proc.wait(DRAIN + 2 * WORKER_FREE_WITHIN)
        except subprocess.TimeoutExpired:
            code = None
        exited = time.monotonic() - signalled
        client.close()
    assert code == 0, f"still running {exited:.1f} s after SIGTERM"
    assert exited < DRAIN + WORKER_FREE_WITHIN, exited
