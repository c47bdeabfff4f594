"""SMTP client → `inlet relay` → S3 → (real S3 notifications) → SQS → parse → S3 → SQS → index
→ DynamoDB → `inlet search`, all against moto's HTTP server on 127.0.0.1. The handlers are
invoked with events built from exactly what SQS returns."""

import base64
import json
import smtplib
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from functions.environment import environment
from functions.index.handler import lambda_handler as index_handler
from functions.parse.handler import lambda_handler as parse_handler
from tests.aws import REGION, Wiring, create_pipeline, deliver, moto_server
from tests.cli import Ran, run_cli
from tests.processes import inlet_process

pytestmark = pytest.mark.integration


@pytest.fixture
def moto_pipeline(monkeypatch: pytest.MonkeyPatch) -> Iterator[Wiring]:
    with moto_server() as endpoint:
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)  # every service, the standard boto3 way
        wiring = create_pipeline(
            boto3.client("s3", region_name=REGION),
            boto3.client("sqs", region_name=REGION),
            boto3.client("dynamodb", region_name=REGION),
            bucket="inlet-e2e",
            table="inlet-e2e",
        )
        monkeypatch.setenv("INLET_BUCKET", wiring.bucket)
        monkeypatch.setenv("INLET_TABLE", wiring.table)
        environment.cache_clear()
        try:
            yield wiring
        finally:
            environment.cache_clear()


def inlet(*args: str) -> Ran:
    return run_cli(*args)  # configured by INLET_* and AWS_ENDPOINT_URL, as a user's shell is


def test_smtp_to_search_result_on_aws_adapters(moto_pipeline: Wiring, tmp_path: Path) -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    big_attachment = b"A" * (7 * 1024 * 1024)  # the raw message goes up as a multipart upload
    body = base64.encodebytes(big_attachment).replace(b"\n", b"\r\n")
    messages = [
        b"From: Alice <alice@example.org>\r\nTo: Bob <bob@example.com>\r\n"
        b"Subject: small\r\nMessage-ID: <e2e-1@example.org>\r\n\r\nhello\r\n",
        b"From: Alice <alice@example.org>\r\nTo: Bob <bob@example.com>\r\n"
        b"Subject: large\r\nMessage-ID: <e2e-2@example.org>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
        b"Content-Type: text/plain\r\n\r\nsee attached\r\n--b\r\n"
        b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
        b'Content-Disposition: attachment; filename="big.bin"\r\n\r\n' + body + b"--b--\r\n",
    ]
    with inlet_process(tmp_path, "relay", "--domains", "example.com") as (proc, port, _):
        with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
            for content in messages:
                client.sendmail("alice@example.org", ["bob@example.com"], content)
        proc.terminate()
        assert proc.wait(20) == 0

    parsed = deliver(sqs, moto_pipeline.parse_queue, parse_handler)
    indexed = deliver(sqs, moto_pipeline.index_queue, index_handler)
    assert [r["batchItemFailures"] for r in parsed + indexed] == [[]] * len(parsed + indexed)

    found = inlet("search", "--to", "bob@EXAMPLE.com", "--json")
    assert found.returncode == 0, found.stderr
    entries = [json.loads(line) for line in found.stdout.splitlines()]
    assert [e["subject"] for e in entries] == ["large", "small"]  # newest first
    large_id = entries[0]["id"]
    shown = inlet("show", large_id, "--json")
    assert shown.returncode == 0, shown.stderr
    document = json.loads(shown.stdout)
    assert document["status"] == "parsed"
    [attachment] = document["attachments"]
    assert attachment["size"] == len(big_attachment)
    s3 = boto3.client("s3", region_name=REGION)
    stored = s3.get_object(Bucket=moto_pipeline.bucket, Key=attachment["key"])["Body"].read()
    assert stored == big_attachment
    by_id = inlet("search", "--message-id", "e2e-1@example.org", "--json")
    assert [json.loads(line)["subject"] for line in by_id.stdout.splitlines()] == ["small"]
