from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from functions.environment import environment
from inlet.blobstore.s3 import CLIENT_CONFIG, S3BlobStore
from inlet.index.dynamodb import DynamoIndex
from tests.aws import REGION, Aws, create_pipeline


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    """Bucket, table and queues under moto, and the functions configured for them as the CDK
    app configures them: through INLET_* variables read at cold start."""
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION, config=CLIENT_CONFIG)
        sqs = boto3.client("sqs", region_name=REGION)
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        wiring = create_pipeline(s3, sqs, dynamodb, bucket="inlet-fn", table="inlet-fn")
        monkeypatch.setenv("INLET_BUCKET", wiring.bucket)
        monkeypatch.setenv("INLET_TABLE", wiring.table)
        monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Inlet")
        environment.cache_clear()
        try:
            yield Aws(
                s3, sqs, wiring, S3BlobStore(s3, wiring.bucket), DynamoIndex(dynamodb, wiring.table)
            )
        finally:
            environment.cache_clear()
