"""INLET_STORE_TIMEOUT: an S3 that never answers gets a 451 in time, not silence.

`inlet relay` (a process) stores through the fault proxy to moto's server; every PutObject is
held without an answer for far longer than the deadline (botocore's own read timeout is 60 s,
times four attempts)."""

import os
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from tests.aws import moto_server
from tests.localstack.fault_proxy import FaultProxy
from tests.processes import inlet_process, start_data

pytestmark = pytest.mark.integration
BUCKET = "inlet-deadline"
DEADLINE = 2


@pytest.fixture
def moto_endpoint() -> Iterator[str]:
    with moto_server() as endpoint:
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=BUCKET)
        yield endpoint


def test_a_store_that_never_answers_is_a_451_within_the_deadline(
    moto_endpoint: str, tmp_path: Path
) -> None:
    hanging = FaultProxy(
        moto_endpoint, rate=1.0, operations=["PutObject"], kinds=["hang"], hang_seconds=60
    )
    with hanging:
        env = {**os.environ, "AWS_ENDPOINT_URL_S3": hanging.endpoint}
        args = ("relay", "--domains", "example.com", "--bucket", BUCKET)
        with inlet_process(tmp_path, *args, "--store-timeout", str(DEADLINE), env=env) as (
            _,
            port,
            _health,
        ):
            client = start_data(port)
            client.send(b"Subject: nowhere\r\n\r\nhello\r\n.\r\n")
            sent = time.monotonic()
            reply = client.reply()
            waited = time.monotonic() - sent
            # The session goes on: the next command is answered.
            assert client.cmd("NOOP").startswith("250")
            client.close()
    assert reply.startswith("451 4.3.0"), reply
    assert DEADLINE <= waited < DEADLINE + 2, waited
    assert (
        boto3.client("s3", endpoint_url=moto_endpoint)
        .list_objects_v2(Bucket=BUCKET)
        .get("KeyCount")
        == 0
    )
