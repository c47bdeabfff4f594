"""`inlet reprocess` against S3 and DynamoDB (moto's HTTP server on 127.0.0.1), configured by
INLET_BUCKET / INLET_TABLE and AWS_ENDPOINT_URL as a user's shell is: the documents of an older
parser rewritten in a date range, stale attachments and lookups gone, verdicts kept, and a
second run changing nothing."""

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from inlet import keys
from inlet.blobstore.s3 import S3BlobStore, make_s3_client
from inlet.index.dynamodb import DynamoIndex, make_dynamodb_client
from inlet.message_store import MessageStore
from inlet.parsing import PARSER_VERSION
from tests.aws import REGION, cli_on_moto
from tests.cli import run_cli
from tests.dns_server import DnsServer
from tests.stored import store_message
from tests.unit.test_reprocess import MESSAGE, verdicts_at_receipt, write_older_parse

pytestmark = pytest.mark.integration

BUCKET = TABLE = "inlet-reprocess"
DAY = datetime.now(UTC).replace(hour=9, minute=0, second=0, microsecond=0) - timedelta(days=40)


@pytest.fixture
def aws(
    monkeypatch: pytest.MonkeyPatch, dns: DnsServer
) -> Iterator[tuple[MessageStore, DynamoIndex]]:
    with cli_on_moto(monkeypatch, BUCKET):
        # Verdicts computed now would come from the test DNS server, and differ from those
        # of receipt: the test sees which were kept.
        monkeypatch.setenv("INLET_DNS_RESOLVER", dns.address)
        dns.add("example.org", "TXT", "v=spf1 -all")
        yield (
            MessageStore(S3BlobStore(make_s3_client(), BUCKET)),
            DynamoIndex(make_dynamodb_client(), TABLE),
        )


def table_items() -> list[dict[str, Any]]:
    items = boto3.client("dynamodb", region_name=REGION).scan(TableName=TABLE, ConsistentRead=True)[
        "Items"
    ]
    return sorted(items, key=lambda i: (i["pk"]["S"], i["sk"]["S"]))


def test_reprocess_a_range_on_s3_and_dynamodb(aws: tuple[MessageStore, DynamoIndex]) -> None:
    messages, index = aws
    # Across a month boundary and more than a month: whole months are one listing each.
    ats = [DAY, DAY + timedelta(days=3), DAY + timedelta(days=35), DAY + timedelta(days=39)]
    envelopes = [store_message(messages, MESSAGE, at=at) for at in ats]
    for envelope in envelopes:
        write_older_parse(messages, index, envelope)
    since = (DAY + timedelta(days=1)).date().isoformat()
    until = (DAY + timedelta(days=36)).date().isoformat()

    ran = run_cli("reprocess", "--since", since, "--until", until, "--json")

    assert ran.returncode == 0, ran.stderr
    report = json.loads(ran.stdout)
    assert (report["examined"], report["parsed"], report["attachments_removed"]) == (2, 2, 2)
    assert report["authentication_kept"] == 2
    inside, outside = envelopes[1:3], [envelopes[0], envelopes[3]]
    for envelope in inside:
        document: dict[str, Any] = messages.load_document(envelope.id)  # type: ignore[assignment]
        assert document["parser_version"] == PARSER_VERSION
        raw = messages.load_raw(envelope.id)
        assert document["authentication"] == verdicts_at_receipt([raw], envelope)
        assert list(messages.blobs.list(keys.attachments_prefix(envelope.id))) == [
            keys.attachment_key(envelope.id, 0, "q2.pdf")
        ]
    for envelope in outside:
        assert messages.load_document(envelope.id)["parser_version"] == "0"  # type: ignore[index]
    found = run_cli("search", "--to", "misread@example.net", "--json")
    assert sorted(json.loads(line)["id"] for line in found.stdout.splitlines()) == sorted(
        e.id for e in outside
    )

    objects = {k: messages.blobs.get(k).data for k in messages.blobs.list("") if "parsed/" not in k}
    items = table_items()
    again = run_cli("reprocess", "--since", since, "--until", until, "--json")

    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["attachments_removed"] == 0
    assert {
        k: messages.blobs.get(k).data for k in messages.blobs.list("") if "parsed/" not in k
    } == (objects)
    assert table_items() == items
