"""The AWS side of the pipeline for tests: bucket, table and queues wired as the CDK app wires
them (S3 notifications → SQS), and Lambda events built from what SQS actually returns."""

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from moto.server import ThreadedMotoServer

from inlet.blobstore.s3 import S3BlobStore
from inlet.index.dynamodb import PARTITION_KEY, SORT_KEY, DynamoIndex

REGION = "us-east-1"


@dataclass(frozen=True)
class Wiring:
    bucket: str
    table: str
    parse_queue: str  # queue URLs
    index_queue: str


@dataclass
class Aws:
    """The pipeline's AWS resources under moto, with the adapters over them."""

    s3: Any
    sqs: Any
    wiring: Wiring
    store: S3BlobStore
    index: DynamoIndex


def create_index_table(dynamodb: Any, table: str) -> None:
    """The index table as the CDK app makes it: the key names from inlet.index.dynamodb, string
    keys, on demand, no secondary indexes."""
    dynamodb.create_table(
        TableName=table,
        KeySchema=[
            {"AttributeName": PARTITION_KEY, "KeyType": "HASH"},
            {"AttributeName": SORT_KEY, "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": PARTITION_KEY, "AttributeType": "S"},
            {"AttributeName": SORT_KEY, "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )


def create_pipeline(s3: Any, sqs: Any, dynamodb: Any, *, bucket: str, table: str) -> Wiring:
    s3.create_bucket(Bucket=bucket)
    create_index_table(dynamodb, table)
    queues = {}
    rules = []
    for name, prefix in (("parse", "raw/"), ("index", "parsed/")):
        url = sqs.create_queue(QueueName=f"{bucket}-{name}")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        queues[name] = url
        rules.append(
            {
                "QueueArn": arn,
                "Events": ["s3:ObjectCreated:*"],
                "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": prefix}]}},
            }
        )
    s3.put_bucket_notification_configuration(
        Bucket=bucket, NotificationConfiguration={"QueueConfigurations": rules}
    )
    return Wiring(bucket, table, queues["parse"], queues["index"])


def bus_to_queue(
    events: Any, sqs: Any, *, bus: str, queue: str, redrive: dict[str, str] | None = None
) -> str:
    """A new bus with `rule_to_queue` on it; the queue's URL."""
    events.create_event_bus(Name=bus)
    return rule_to_queue(events, sqs, bus=bus, queue=queue, redrive=redrive)


def rule_to_queue(
    events: Any, sqs: Any, *, bus: str, queue: str, redrive: dict[str, str] | None = None
) -> str:
    """A rule on `bus` (source `inlet`, named as the queue) whose target is a new queue, as a
    consumer (or the CDK app's webhook rule) attaches one; the queue's URL."""
    attributes = {"RedrivePolicy": json.dumps(redrive)} if redrive else {}
    url: str = sqs.create_queue(QueueName=queue, Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    events.put_rule(Name=queue, EventBusName=bus, EventPattern=json.dumps({"source": ["inlet"]}))
    events.put_targets(
        Rule=queue, EventBusName=bus, Targets=[{"Id": "queue", "Arn": arn["QueueArn"]}]
    )
    return url


def receive_all(sqs: Any, url: str, count: int, *, rounds: int = 10) -> list[dict[str, Any]]:
    """At least `count` messages from the queue (fewer if it runs dry), with their attributes."""
    got: list[dict[str, Any]] = []
    for _ in range(rounds):
        got += sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"]
        ).get("Messages", [])
        if len(got) >= count:
            break
    return got


def emf(out: str) -> list[dict[str, Any]]:
    """The EMF documents (metrics) among the lines a function printed."""
    return [json.loads(line) for line in out.splitlines() if '"_aws"' in line]


def counted(documents: list[dict[str, Any]], name: str) -> float:
    """The sum of metric `name` over EMF documents (Powertools lists repeated values)."""
    return sum(
        sum(d[name]) if isinstance(d[name], list) else d[name] for d in documents if name in d
    )


class FakeContext:
    """The attributes of a Lambda context object that Powertools reads."""

    function_name = "inlet-test"
    function_version = "$LATEST"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:inlet-test"
    aws_request_id = "00000000-0000-0000-0000-000000000000"
    log_group_name = "/aws/lambda/inlet-test"
    log_stream_name = "test"

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


def lambda_event(sqs: Any, queue_url: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The event Lambda's SQS event source mapping builds from ReceiveMessage's answer."""
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": m.get("MessageAttributes", {}),
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": arn,
                "awsRegion": REGION,
            }
            for m in messages
        ]
    }


def deliver(
    sqs: Any,
    queue_url: str,
    handler: Callable[[dict[str, Any], Any], Any],
    *,
    rounds: int = 10,
) -> list[dict[str, Any]]:
    """Act as the event source mapping: receive, invoke, delete what succeeded. Returns the
    handler's responses. Failed records become visible again at once (visibility timeout 0)."""
    responses = []
    for _ in range(rounds):
        got = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
            VisibilityTimeout=0,
        ).get("Messages", [])
        if not got:
            break
        response = handler(lambda_event(sqs, queue_url, got), FakeContext())
        responses.append(response)
        failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
        for m in got:
            if m["MessageId"] not in failed:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
    return responses


@contextmanager
def moto_server() -> Iterator[str]:
    """moto's HTTP server on a free port of 127.0.0.1, for processes that call AWS; its URL."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@contextmanager
def cli_on_moto(monkeypatch: Any, name: str) -> Iterator[str]:
    """A moto server holding a bucket and an index table both called `name`, and the
    AWS_ENDPOINT_URL and INLET_* variables that point the CLI at them; yields the endpoint."""
    import boto3

    with moto_server() as endpoint:
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        boto3.client("s3", region_name=REGION).create_bucket(Bucket=name)
        create_index_table(boto3.client("dynamodb", region_name=REGION), name)
        monkeypatch.setenv("INLET_BUCKET", name)
        monkeypatch.setenv("INLET_TABLE", name)
        yield endpoint
