"""The relay against S3 (moto): envelope placement, multipart upload, and faults at every step
leaving no object and no open multipart upload behind."""

import base64
import hashlib
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ReadTimeoutError
from moto import mock_aws

from inlet import keys
from inlet.blobstore.s3 import MIN_PART_SIZE, S3BlobStore
from inlet.message_store import ENVELOPE_KEY_META, ENVELOPE_META
from tests.faults import Fault
from tests.support import RawSMTP, load_envelope, load_raw, queued_id, running_relay, settings

pytestmark = pytest.mark.relay
BUCKET = "inlet-faults"


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        # One attempt: a fault is a fault, no retry sleeps in tests.
        client = boto3.client(
            "s3", region_name="us-east-1", config=Config(retries={"max_attempts": 1})
        )
        client.create_bucket(Bucket=BUCKET)
        yield client


class Calls:
    def __init__(self) -> None:
        self.names: list[str] = []

    def __call__(self, model: Any, **_: Any) -> None:
        self.names.append(model.name)


def fail(client: Any, operation: str, *, only_key_prefix: str = "") -> None:
    """Make `operation` fail as S3 answering 500 would."""
    fault = Fault("InternalError", path=lambda path: f"/{only_key_prefix}" in path)
    client.meta.events.register(f"before-call.s3.{operation}", fault, unique_id="fault")


def send(port: int, content: bytes, rcpts: int = 1) -> str:
    client = RawSMTP(port, timeout=60)
    client.reply()
    client.cmd("EHLO client.test")
    client.cmd("MAIL FROM:<a@example.org>")
    for i in range(rcpts):
        assert client.cmd(f"RCPT TO:<user{i}@example.com>").startswith("250")
    client.cmd("DATA")
    client.send(content + b".\r\n")
    reply = client.reply().strip()
    client.close()
    return reply


def assert_nothing_left(client: Any) -> None:
    assert client.list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0
    assert client.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []


def test_small_message_is_one_put_with_the_envelope_in_metadata(s3: Any) -> None:
    calls = Calls()
    sent: list[dict[str, str]] = []
    s3.meta.events.register("before-call.s3", calls)
    s3.meta.events.register(
        "before-send.s3.PutObject",
        lambda request, **_: sent.append(
            {k: v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()}
        ),
    )
    store = S3BlobStore(s3, BUCKET)
    with running_relay(store) as relay:
        mid = queued_id(send(relay.port, b"Subject: x\r\n\r\nsmall\r\n"))
    assert calls.names == ["PutObject"]
    head = s3.head_object(Bucket=BUCKET, Key=keys.raw_key(mid))
    assert head["ContentType"] == "message/rfc822"
    assert ENVELOPE_META in head["Metadata"]
    digest = hashlib.sha256(load_raw(store, mid)).digest()
    assert load_envelope(store, mid).sha256 == digest.hex()
    # S3 verifies the body against our digest, and SigV4 signs that same digest.
    assert sent[0]["x-amz-checksum-sha256"] == base64.b64encode(digest).decode()
    assert sent[0]["X-Amz-Content-SHA256"] == digest.hex()


def test_many_recipients_put_the_complete_envelope_apart(s3: Any) -> None:
    store = S3BlobStore(s3, BUCKET)
    with running_relay(store, settings(max_recipients=100)) as relay:
        mid = queued_id(send(relay.port, b"Subject: x\r\n\r\nto many\r\n", rcpts=100))
    meta = s3.head_object(Bucket=BUCKET, Key=keys.raw_key(mid))["Metadata"]
    assert meta[ENVELOPE_KEY_META] == keys.envelope_key(mid)
    env = load_envelope(store, mid)
    assert env.rcpt_to == [f"user{i}@example.com" for i in range(100)]


def test_large_message_goes_up_as_multipart(s3: Any) -> None:
    calls = Calls()
    s3.meta.events.register("before-call.s3", calls)
    store = S3BlobStore(s3, BUCKET)
    line = b"0123456789" * 7 + b"\r\n"
    content = b"Subject: big\r\n\r\n" + line * ((2 * MIN_PART_SIZE + 123_456) // len(line))
    with running_relay(store, settings(buffer_budget=8 << 20)) as relay:
        mid = queued_id(send(relay.port, content))
    assert calls.names.count("UploadPart") == 3
    # Then the one listing that finds uploads of the key a lost Create answer may have left.
    assert calls.names[-2:] == ["CompleteMultipartUpload", "ListMultipartUploads"]
    assert load_raw(store, mid).endswith(b"\r\n" + content)
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []


@pytest.mark.parametrize(
    ("operation", "size", "rcpts"),
    [
        ("PutObject", 1_000, 1),
        ("PutObject", 1_000, 100),  # the envelope object was written, then the raw put failed
        ("CreateMultipartUpload", 6 << 20, 1),
        ("UploadPart", 12 << 20, 1),
        ("CompleteMultipartUpload", 6 << 20, 1),
    ],
)
def test_storage_fault_gives_451_and_leaves_nothing(
    s3: Any, operation: str, size: int, rcpts: int
) -> None:
    fail(s3, operation, only_key_prefix="raw/" if operation == "PutObject" else "")
    store = S3BlobStore(s3, BUCKET)
    content = b"Subject: f\r\n\r\n" + (b"x" * 78 + b"\r\n") * (size // 80)
    with running_relay(store, settings(max_recipients=100)) as relay:
        reply = send(relay.port, content, rcpts=rcpts)
        assert reply.startswith("451 4.3.0"), reply
        # The relay keeps serving once storage is back.
        s3.meta.events.unregister(f"before-call.s3.{operation}", unique_id="fault")
        assert queued_id(send(relay.port, b"Subject: ok\r\n\r\nagain\r\n"))
        for key in list(store.list("")):
            store.delete(key)
    assert_nothing_left(s3)


def test_completed_upload_whose_reply_was_lost_is_removed(s3: Any) -> None:
    def lose_reply(**_: Any) -> None:
        raise ReadTimeoutError(endpoint_url="https://s3.test")

    s3.meta.events.register("after-call.s3.CompleteMultipartUpload", lose_reply)
    store = S3BlobStore(s3, BUCKET)
    content = b"Subject: f\r\n\r\n" + (b"x" * 78 + b"\r\n") * ((6 << 20) // 80)
    with running_relay(store) as relay:
        assert send(relay.port, content).startswith("451 4.3.0")
    assert_nothing_left(s3)
