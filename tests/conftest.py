from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from inlet.blobstore import BlobStore
from inlet.blobstore.filesystem import FilesystemBlobStore
from inlet.blobstore.s3 import CLIENT_CONFIG, S3BlobStore
from tests.dns_server import DnsServer

BUCKET = "inlet-test"


@pytest.fixture(autouse=True)
def _no_real_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    # Nothing in the suite may reach AWS: fake credentials, a fixed region, no profile.
    for name in (
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "AWS_ENDPOINT_URL_SQS",
        "AWS_ENDPOINT_URL_DYNAMODB",
        "INLET_BUCKET",
        "INLET_TABLE",
        "INLET_DATA_DIR",
        "INLET_RETENTION_DAYS",
        "INLET_RETENTION_OVERRIDES",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "us-east-1")


@pytest.fixture
def s3_client() -> Iterator[object]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1", config=CLIENT_CONFIG)
        client.create_bucket(Bucket=BUCKET)
        yield client


@pytest.fixture
def s3_store(s3_client: object) -> S3BlobStore:
    return S3BlobStore(s3_client, BUCKET)  # type: ignore[arg-type]


@pytest.fixture
def fs_store(tmp_path: Path) -> FilesystemBlobStore:
    return FilesystemBlobStore(tmp_path / "data")


@pytest.fixture(params=["filesystem", "s3"])
def store(request: pytest.FixtureRequest) -> BlobStore:
    name = "fs_store" if request.param == "filesystem" else "s3_store"
    store: BlobStore = request.getfixturevalue(name)
    return store


INDEX_TABLE = "inlet-index-test"


@pytest.fixture
def dynamodb_client() -> Iterator[object]:
    """A DynamoDB client under moto with the index table made as the CDK app makes it."""
    from inlet.index.dynamodb import CLIENT_CONFIG as DYNAMODB_CONFIG
    from tests.aws import create_index_table

    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1", config=DYNAMODB_CONFIG)
        create_index_table(client, INDEX_TABLE)
        yield client


@pytest.fixture(scope="session")
def dns_server() -> Iterator[DnsServer]:
    """The test DNS server on 127.0.0.1 (tests/dns_server.py), one for the session."""
    with DnsServer() as server:
        yield server


@pytest.fixture
def dns(dns_server: DnsServer) -> DnsServer:
    """The server, with no records and an empty query log."""
    dns_server.reset()
    return dns_server
