"""The fault-injecting S3 proxy (tests/localstack/fault_proxy.py) between boto3 and moto's HTTP
server on 127.0.0.1: verbatim forwarding when no fault is drawn, each fault kind as boto3 sees it
(and what did or did not happen upstream), the seeded plan's determinism, and a stop() that does
not wait for a hang."""

import http.client
import socket
import time
import uuid
import zlib
from base64 import b64encode
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, ReadTimeoutError

from tests.aws import moto_server
from tests.localstack.fault_proxy import WRITE_OPERATIONS, FaultProxy, Kind, classify
from tests.processes import wait_for

pytestmark = pytest.mark.integration

PART = 5 * 1024 * 1024  # S3's minimum size for every part but the last


def s3_client(endpoint: str, *, attempts: int = 1, read_timeout: float = 5) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        config=Config(
            connect_timeout=1,
            read_timeout=read_timeout,
            # total_max_attempts counts the first attempt; botocore's max_attempts does not.
            retries={"total_max_attempts": attempts, "mode": "standard"},
        ),
    )


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def direct(moto_endpoint: str) -> Any:
    """A client straight to moto: what is really stored, past the proxy."""
    return s3_client(moto_endpoint)


@pytest.fixture
def bucket(direct: Any) -> str:
    name = f"fault-proxy-{uuid.uuid4().hex[:12]}"
    direct.create_bucket(Bucket=name)
    return name


@pytest.fixture
def proxy_factory(moto_endpoint: str) -> Iterator[Callable[..., FaultProxy]]:
    started: list[FaultProxy] = []

    def make(**plan: Any) -> FaultProxy:
        proxy = FaultProxy(moto_endpoint, **plan).start()
        started.append(proxy)
        return proxy

    yield make
    for proxy in started:
        proxy.stop()
        assert not proxy.running


def stored(direct: Any, bucket: str, key: str) -> bytes | None:
    listed = direct.list_objects_v2(Bucket=bucket, Prefix=key).get("Contents", [])
    if key not in {o["Key"] for o in listed}:
        return None
    body: bytes = direct.get_object(Bucket=bucket, Key=key)["Body"].read()
    return body


def raw_put(port: int, path: str, body: bytes) -> socket.socket:
    """A PutObject sent by hand (moto asks for no signature), its answer left unread."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    head = f"PUT {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {len(body)}\r\n"
    sock.sendall(head.encode() + b"\r\n" + body)
    return sock


def test_without_faults_every_operation_passes_through_on_one_kept_alive_connection(
    proxy_factory: Callable[..., FaultProxy], bucket: str, direct: Any
) -> None:
    proxy = proxy_factory(rate=0.0)
    assert proxy.endpoint == f"http://127.0.0.1:{proxy.port}"
    s3 = s3_client(proxy.endpoint)

    s3.put_object(Bucket=bucket, Key="small", Body=b"hello\r\n.world")
    assert s3.get_object(Bucket=bucket, Key="small")["Body"].read() == b"hello\r\n.world"

    parts = [bytes(range(256)) * (PART // 256), b"!"]  # 5 MiB + 1 byte
    upload = s3.create_multipart_upload(Bucket=bucket, Key="big")["UploadId"]
    etags = [
        s3.upload_part(Bucket=bucket, Key="big", UploadId=upload, PartNumber=n, Body=data)["ETag"]
        for n, data in enumerate(parts, 1)
    ]
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="big",
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, 1)]},
    )
    assert s3.head_object(Bucket=bucket, Key="big")["ContentLength"] == PART + 1
    assert s3.get_object(Bucket=bucket, Key="big")["Body"].read() == b"".join(parts)
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert sorted((o["Key"], o["Size"]) for o in listed) == [("big", PART + 1), ("small", 13)]
    s3.delete_object(Bucket=bucket, Key="small")
    aborted = s3.create_multipart_upload(Bucket=bucket, Key="gone")["UploadId"]
    s3.abort_multipart_upload(Bucket=bucket, Key="gone", UploadId=aborted)

    assert stored(direct, bucket, "small") is None
    assert stored(direct, bucket, "big") == b"".join(parts)
    assert direct.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    history = proxy.history()
    assert [r.operation for r in history] == [
        "PutObject",
        "GetObject",
        "CreateMultipartUpload",
        "UploadPart",
        "UploadPart",
        "CompleteMultipartUpload",
        "HeadObject",
        "GetObject",
        "ListObjects",
        "DeleteObject",
        "CreateMultipartUpload",
        "AbortMultipartUpload",
    ]
    assert all(r.kind is None for r in history)
    # botocore sends `Expect: 100-continue` with every body it uploads; the proxy answered it.
    assert {r.operation for r in history if r.continued} == {"PutObject", "UploadPart"}
    stats = proxy.stats()
    assert stats["requests"] == stats["forwarded"] == 12
    assert stats["faults"] == 0
    assert stats["connections"] == 1  # botocore reused its connection for every request
    assert proxy.errors() == []


def test_chunked_and_aws_chunked_bodies_are_forwarded_as_framed(
    proxy_factory: Callable[..., FaultProxy], bucket: str, direct: Any
) -> None:
    proxy = proxy_factory(rate=0.0)
    connection = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=5)
    try:
        # Transfer-Encoding: chunked, with an Expect the proxy answers itself (http.client skips
        # the interim 100 while reading the answer).
        connection.request(
            "PUT",
            f"/{bucket}/chunked",
            body=iter([b"first,", b"second"]),
            headers={"Expect": "100-continue"},
            encode_chunked=True,
        )
        answer = connection.getresponse()
        answer.read()
        assert answer.status == 200
        # aws-chunked inside HTTP chunking, as botocore sends trailing checksums over TLS.
        data = b"aws-chunked payload"
        checksum = b64encode(zlib.crc32(data).to_bytes(4, "big"))
        encoded = (
            f"{len(data):x}\r\n".encode()
            + data
            + b"\r\n0\r\nx-amz-checksum-crc32:"
            + checksum
            + b"\r\n\r\n"
        )
        connection.request(
            "PUT",
            f"/{bucket}/aws-chunked",
            body=iter([encoded[:7], encoded[7:]]),
            headers={
                "Content-Encoding": "aws-chunked",
                "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
                "x-amz-decoded-content-length": str(len(data)),
                "x-amz-trailer": "x-amz-checksum-crc32",
            },
            encode_chunked=True,
        )
        answer = connection.getresponse()
        answer.read()
        assert answer.status == 200
    finally:
        connection.close()
    assert stored(direct, bucket, "chunked") == b"first,second"
    assert stored(direct, bucket, "aws-chunked") == data
    assert proxy.stats()["connections"] == 1
    assert proxy.errors() == []


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [("error500", 500, "InternalError"), ("slowdown503", 503, "SlowDown")],
)
def test_error_answers_are_s3_errors_and_nothing_is_forwarded(
    proxy_factory: Callable[..., FaultProxy],
    bucket: str,
    direct: Any,
    kind: Kind,
    status: int,
    code: str,
) -> None:
    proxy = proxy_factory(rate=1.0, kinds=[kind], max_faults=1)
    s3 = s3_client(proxy.endpoint)
    with pytest.raises(ClientError) as raised:
        s3.put_object(Bucket=bucket, Key="k", Body=b"lost")
    assert raised.value.response["Error"]["Code"] == code
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert stored(direct, bucket, "k") is None
    s3.put_object(Bucket=bucket, Key="k", Body=b"kept")  # the cap is reached: forwarded
    assert stored(direct, bucket, "k") == b"kept"
    stats = proxy.stats()
    assert stats["by_fault"] == {("PutObject", kind): 1}
    assert (stats["requests"], stats["forwarded"], stats["connections"]) == (2, 1, 1)


def test_reset_before_forwarding_loses_the_request(
    proxy_factory: Callable[..., FaultProxy], bucket: str, direct: Any
) -> None:
    proxy = proxy_factory(rate=1.0, kinds=["reset_before"])
    s3 = s3_client(proxy.endpoint)
    with pytest.raises(ConnectionClosedError):
        s3.put_object(Bucket=bucket, Key="k", Body=b"lost")
    with pytest.raises(ConnectionClosedError):
        s3.create_multipart_upload(Bucket=bucket, Key="m")
    assert stored(direct, bucket, "k") is None
    assert direct.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert proxy.stats()["forwarded"] == 0


def test_reset_after_forwarding_loses_only_the_answer(
    proxy_factory: Callable[..., FaultProxy], bucket: str, direct: Any
) -> None:
    proxy = proxy_factory(rate=1.0, kinds=["reset_after"])
    s3 = s3_client(proxy.endpoint)
    with pytest.raises(ConnectionClosedError):
        s3.put_object(Bucket=bucket, Key="k", Body=b"stored anyway")
    with pytest.raises(ConnectionClosedError):
        s3.create_multipart_upload(Bucket=bucket, Key="m")
    assert stored(direct, bucket, "k") == b"stored anyway"
    # The upload exists, and the client never learned its id.
    uploads = direct.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert [u["Key"] for u in uploads] == ["m"]
    stats = proxy.stats()
    assert stats["forwarded"] == stats["faults"] == 2


def test_a_hang_times_the_client_out_then_ends_by_itself(
    proxy_factory: Callable[..., FaultProxy], bucket: str, direct: Any
) -> None:
    proxy = proxy_factory(rate=1.0, kinds=["hang"], hang_seconds=1.0)
    s3 = s3_client(proxy.endpoint, read_timeout=0.3)
    began = time.monotonic()
    with pytest.raises(ReadTimeoutError):
        s3.put_object(Bucket=bucket, Key="k", Body=b"never answered")
    assert time.monotonic() - began < 0.9
    wait_for(lambda: proxy.stats()["hangs_finished"] == 1, timeout=2)
    # Held for hang_seconds, then reset: measured on a connection that waits for its answer.
    sock = raw_put(proxy.port, f"/{bucket}/raw", b"x")
    began = time.monotonic()
    with sock, pytest.raises(ConnectionResetError):
        sock.recv(1)
    assert 0.9 <= time.monotonic() - began < 1.9
    assert proxy.stats()["hangs_finished"] == 2
    assert stored(direct, bucket, "k") is None


def test_stop_ends_a_hang_in_progress(
    proxy_factory: Callable[..., FaultProxy], bucket: str
) -> None:
    proxy = proxy_factory(rate=1.0, kinds=["hang"], hang_seconds=60)
    with raw_put(proxy.port, f"/{bucket}/k", b"x") as sock:
        wait_for(lambda: len(proxy.history()) == 1, timeout=2)
        began = time.monotonic()
        proxy.stop()
        assert time.monotonic() - began < 2
        assert not proxy.running
        with pytest.raises(ConnectionResetError):
            sock.recv(1)
    assert proxy.stats()["hangs_finished"] == 0
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", proxy.port), timeout=1).close()


def outcomes(proxy: FaultProxy, bucket: str) -> list[str]:
    s3 = s3_client(proxy.endpoint)
    seen = []
    for n in range(16):
        try:
            s3.put_object(Bucket=bucket, Key=f"k{n}", Body=b"x")
            seen.append("ok")
        except ClientError as e:
            seen.append(e.response["Error"]["Code"])
    return seen


def test_the_same_seed_draws_the_same_faults(
    proxy_factory: Callable[..., FaultProxy], bucket: str
) -> None:
    plan = {"rate": 0.5, "kinds": ["error500", "slowdown503"]}
    runs = [
        (outcomes(proxy, bucket), [r.kind for r in proxy.history()])
        for proxy in (
            proxy_factory(seed=11, **plan),
            proxy_factory(seed=11, **plan),
            proxy_factory(seed=12, **plan),
        )
    ]
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]
    seen, kinds = runs[0]
    assert {"ok", "InternalError", "SlowDown"} <= set(seen)
    assert seen == [
        {None: "ok", "error500": "InternalError", "slowdown503": "SlowDown"}[k] for k in kinds
    ]


def test_pause_resume_and_the_operations_eligible(
    proxy_factory: Callable[..., FaultProxy], bucket: str
) -> None:
    proxy = proxy_factory(rate=1.0, kinds=["error500"])
    assert proxy.operations == WRITE_OPERATIONS
    s3 = s3_client(proxy.endpoint)
    with pytest.raises(ClientError):
        s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    proxy.pause()
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    proxy.resume()
    with pytest.raises(ClientError):
        s3.delete_object(Bucket=bucket, Key="k")
    # Reads are not eligible by default.
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 1
    assert proxy.stats()["by_fault"] == {
        ("PutObject", "error500"): 1,
        ("DeleteObject", "error500"): 1,
    }


def test_botocore_standard_retries_ride_over_the_faults(
    proxy_factory: Callable[..., FaultProxy], bucket: str, direct: Any
) -> None:
    proxy = proxy_factory(rate=1.0, kinds=["error500", "reset_before"], max_faults=2, seed=3)
    s3 = s3_client(proxy.endpoint, attempts=3)
    s3.put_object(Bucket=bucket, Key="k", Body=b"third time")
    assert stored(direct, bucket, "k") == b"third time"
    assert [r.operation for r in proxy.history()] == ["PutObject"] * 3
    assert proxy.stats()["faults"] == 2


def test_an_unreachable_upstream_is_a_502() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # closed again before the proxy forwards
    with FaultProxy(f"http://127.0.0.1:{port}") as proxy:
        with pytest.raises(ClientError) as raised:
            s3_client(proxy.endpoint).put_object(Bucket="bucket", Key="k", Body=b"x")
        assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 502
        assert len(proxy.errors()) == 1


@pytest.mark.parametrize(
    ("method", "target", "operation"),
    [
        ("POST", "/b/k?uploads", "CreateMultipartUpload"),
        ("PUT", "/b/k?partNumber=1&uploadId=u", "UploadPart"),
        ("POST", "/b/k?uploadId=u", "CompleteMultipartUpload"),
        ("DELETE", "/b/k?uploadId=u", "AbortMultipartUpload"),
        ("PUT", "/b/dir/k%20x", "PutObject"),
        ("GET", "/b/k", "GetObject"),
        ("HEAD", "/b/k", "HeadObject"),
        ("DELETE", "/b/k", "DeleteObject"),
        ("GET", "/b?list-type=2&prefix=raw%2F", "ListObjects"),
        ("GET", "/b/", "ListObjects"),
        ("PUT", "/b", "Other"),  # CreateBucket
        ("GET", "/b?uploads", "Other"),  # ListMultipartUploads
        ("GET", "/b/k?uploadId=u", "Other"),  # ListParts
        ("PUT", "/b/k?tagging", "Other"),
        ("POST", "/b?delete", "Other"),  # DeleteObjects
        ("GET", "/", "Other"),  # ListBuckets
    ],
)
def test_classify(method: str, target: str, operation: str) -> None:
    assert classify(method, target) == operation


def test_a_plan_is_checked_when_made() -> None:
    with pytest.raises(ValueError, match="upstream"):
        FaultProxy("https://127.0.0.1:1")
    with pytest.raises(ValueError, match="rate"):
        FaultProxy("http://127.0.0.1:1", rate=1.5)
    with pytest.raises(ValueError, match="kinds"):
        FaultProxy("http://127.0.0.1:1", kinds=["meteor"])  # type: ignore[list-item]
