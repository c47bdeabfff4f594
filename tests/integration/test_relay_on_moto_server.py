"""`inlet relay` as the container runs it, against moto's HTTP server on 127.0.0.1, configured
only through boto3's standard environment variables; then `inlet show` reads it back."""

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from tests.aws import create_index_table, moto_server
from tests.cli import run_cli
from tests.processes import inlet_process, start_data
from tests.support import queued_id

pytestmark = pytest.mark.integration
BUCKET = "inlet-integration"


@pytest.fixture
def moto_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with moto_server() as endpoint:
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", endpoint)
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=BUCKET)
        # `inlet show` works against AWS when both the bucket and the index table are configured.
        create_index_table(boto3.client("dynamodb", endpoint_url=endpoint), BUCKET)
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", endpoint)
        yield endpoint


def test_relay_stores_in_s3_and_show_reads_it_back(
    moto_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = b"Subject: big\r\n\r\n" + (b"b" * 998 + b"\r\n") * 7000  # ~7 MB: multipart
    with inlet_process(tmp_path, "relay", "--domains", "example.com", "--bucket", BUCKET) as (
        proc,
        port,
        _,
    ):
        ids = []
        for content in (b"Subject: small\r\n\r\n.dot\r\n", big):
            client = start_data(port)
            client.send(content.replace(b"\r\n.", b"\r\n..") + b".\r\n")
            ids.append(queued_id(client.reply().strip()))
            client.close()
        proc.terminate()
        assert proc.wait(20) == 0
    monkeypatch.setenv("INLET_BUCKET", BUCKET)
    monkeypatch.setenv("INLET_TABLE", BUCKET)
    for mid, content in zip(ids, (b"Subject: small\r\n\r\n.dot\r\n", big), strict=True):
        shown = run_cli("show", mid, "--raw")
        assert shown.returncode == 0, shown.stderr
        raw = shown.raw
        assert raw.endswith(b"\r\n" + content)
    s3 = boto3.client("s3", endpoint_url=moto_endpoint)
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert sorted(k.split("/")[0] for k in keys) == ["envelope", "raw", "raw"]
