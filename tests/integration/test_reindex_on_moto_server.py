"""`inlet reindex` against S3 and DynamoDB (moto's HTTP server on 127.0.0.1), configured by
INLET_BUCKET / INLET_TABLE and AWS_ENDPOINT_URL as a user's shell is: a table rebuilt from the
bucket, the hold only the old table had recorded first, the DynamoDB requests counted per
document, and a second run writing nothing but the holds."""

import json
import math
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from inlet.blobstore.s3 import S3BlobStore, make_s3_client
from inlet.index import dynamodb
from inlet.index.dynamodb import DynamoIndex
from inlet.index.records import lookups_of
from inlet.message_store import Hold, MessageStore
from inlet.parsing import stored_document
from inlet.pipeline import no_verdicts, parse_stored
from inlet.reindex import MIGRATED_BY
from tests.aws import REGION, cli_on_moto
from tests.cli import run_cli
from tests.stored import store_message

pytestmark = pytest.mark.integration

BUCKET = TABLE = "inlet-reindex"
NOW = datetime.now(UTC)
WRITES = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem")


class Calls:
    """DynamoDB requests the CLI's clients make, by operation, and BatchWriteItem's items."""

    def __init__(self) -> None:
        self.operations: Counter[str] = Counter()
        self.batch_items = 0

    def __call__(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        self.operations[model.name] += 1
        if model.name == "BatchWriteItem":
            self.batch_items += sum(len(v) for v in params["RequestItems"].values())


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[MessageStore, Calls]]:
    with cli_on_moto(monkeypatch, BUCKET):
        calls = Calls()
        make = dynamodb.make_dynamodb_client

        def counted() -> Any:
            client = make()
            client.meta.events.register("before-parameter-build.dynamodb", calls)
            return client

        # The CLI makes its client through this factory (inlet.cli.wiring).
        monkeypatch.setattr(dynamodb, "make_dynamodb_client", counted)
        yield MessageStore(S3BlobStore(make_s3_client(), BUCKET)), calls


def raw(n: int) -> bytes:
    return (
        f"From: s{n}@example.org\r\nTo: bob@example.com, r{n}@example.com\r\n"
        f"Cc: cc@example.net\r\nMessage-ID: <re-{n}@example.org>\r\nSubject: {n}\r\n\r\nhi\r\n"
    ).encode()


def test_reindex_rebuilds_the_table_from_the_bucket(aws: tuple[MessageStore, Calls]) -> None:
    messages, calls = aws
    at = NOW - timedelta(days=3)
    parsed = [store_message(messages, raw(n), at=at + timedelta(hours=n)) for n in range(4)]
    documents = [parse_stored(messages, e.id, now=NOW, verdicts=no_verdicts) for e in parsed]
    unparsed = store_message(messages, raw(9), at=at + timedelta(hours=9))
    messages.save_hold(Hold(parsed[0].id, "2026-01-01T00:00:00Z", "ops"))
    # A hold set before holds were recorded in the store: only the table has it.
    old = DynamoIndex(boto3.client("dynamodb", region_name=REGION), TABLE)
    old.hold(parsed[2].id)
    calls.operations.clear()

    ran = run_cli("reindex", "--json")

    assert ran.returncode == 0, ran.stderr
    report = json.loads(ran.stdout)
    assert (report["documents"], report["stored_only"], report["failed"]) == (4, 1, 0)
    assert (report["holds_migrated"], report["holds_applied"]) == (1, 2)
    hold = messages.load_hold(parsed[2].id)
    assert hold is not None
    assert hold.held_by == MIGRATED_BY
    # Per message on an empty table: a consistent GetItem, then the pending PutItem, one
    # BatchWriteItem of its lookup items (<= 25 of them), the final PutItem. Holds: 1 PutItem
    # each; listing them: a Scan.
    entries = len(documents) + 1
    lookups = sum(len(lookups_of(d)) for d in documents) + len(
        lookups_of(stored_document(unparsed))
    )
    assert calls.operations == {
        "Scan": 1,
        "GetItem": entries,
        "PutItem": 2 * entries + 2,
        "BatchWriteItem": entries,
    }
    assert calls.batch_items == lookups
    per_document_units = (2 * entries + lookups) / entries  # items of <= 1 KB: 1 unit each
    assert 2 + 5 <= per_document_units <= 2 + 8  # 5 to 8 lookups per message here
    assert all(math.ceil(len(lookups_of(d)) / 25) == 1 for d in documents)
    found = run_cli("search", "--to", "bob@example.com", "--json")
    assert [json.loads(line)["id"] for line in found.stdout.splitlines()] == [
        e.id for e in reversed(parsed)
    ]
    assert old.get(unparsed.id) is not None
    assert old.is_held(parsed[0].id)

    calls.operations.clear()
    calls.batch_items = 0
    again = run_cli("reindex", "--json")

    assert again.returncode == 0, again.stderr
    # Indexed exactly so already: only reads, and the holds set again.
    assert {op: n for op, n in calls.operations.items() if op in WRITES} == {"PutItem": 2}
    assert calls.operations["GetItem"] == entries
