"""The index on DynamoDB: one table, string keys `pk` and `sk`, on demand, no secondary indexes.

Items (every entry attribute: id, received_at, status, mail_from, rcpt_to, from, to, subject,
message_id, size; subject and message_id are absent when null):

    pk=MSG#<id>             sk=MSG    the entry, `lookups` (the pks of every lookup item this
                                      message may have), `rev` (a revision number for
                                      optimistic concurrency), `pending` while a put is
                                      half done (`get` treats a pending item as absent)
    pk=TO#<addr>            sk=<id>   a copy of the entry, so a search is one Query and no
    pk=FROM#<addr>          sk=<id>   GetItem per result (addresses and Message-IDs are
    pk=MSGID#<message-id>   sk=<id>   normalised by inlet.index.records)
    pk=MSG#<id>             sk=HOLD   a legal hold; independent of the entry

Ids are ULIDs, so a lookup partition's sort key is in time order: a search is one Query with
`sk BETWEEN lowest_id(since) AND lowest_id(until)`, newest first. BETWEEN includes its upper
bound, which only an id minted at exactly `until` with 80 zero random bits could equal; such an
item is dropped from the page, so `until` is exclusive.

Writes are ordered so that an interrupted put or delete is finished by simply running it again
(SQS delivers at least once), and so that no lookup item is ever left that the MSG item does
not list (otherwise a delete could not find it):
put:    record intent (create a pending MSG item, or add the new lookup pks to the listed ones),
        write the lookup items, delete the ones that no longer apply, write the MSG item.
delete: delete every listed lookup item, then the MSG item last.
Each MSG write is conditional on the revision read at the start; if another put or delete of the
same message intervened, the operation starts again (bounded), so concurrent writers converge on
the last one to finish. A search may list a message whose first put is still half done (its
lookup items come first); `get` answers None until the put is whole.

`held_ids` scans the whole table (filtering sk=HOLD): its cost grows with the table, so it is
for admin listings, not for anything on the mail path.
"""

import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from inlet.document import Document
from inlet.errors import ConfigError
from inlet.ids import check_id
from inlet.index import IndexUnavailable, Page
from inlet.index.records import (
    Entry,
    SearchField,
    check_limit,
    decode_cursor,
    encode_cursor,
    entry_from_document,
    id_bounds,
    lookup_key,
    lookups_of,
    replaces,
    search_value,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef, WriteRequestTypeDef

    Item = Mapping[str, AttributeValueTypeDef]

log = logging.getLogger(__name__)

PARTITION_KEY = "pk"
SORT_KEY = "sk"
MESSAGE_PREFIX = "MSG#"
MESSAGE_SORT = "MSG"
HOLD_SORT = "HOLD"

_BATCH_SIZE = 25  # BatchWriteItem's limit
_BATCH_ATTEMPTS = 8  # rounds of retrying unprocessed (throttled) writes before giving up
_CONFLICT_ATTEMPTS = 5  # restarts of a put or delete that raced another writer
_NO_UPPER = "~"  # sorts after every id character

# Bounded like the S3 client's: a stalled DynamoDB becomes a retryable error, not a hang.
CLIENT_CONFIG = Config(
    connect_timeout=5,
    read_timeout=20,
    retries={"mode": "standard", "max_attempts": 3},
    max_pool_connections=32,
)


def make_dynamodb_client() -> "DynamoDBClient":
    """A DynamoDB client configured the standard boto3 way (AWS_ENDPOINT_URL, AWS_REGION, ...)."""
    import boto3

    return boto3.client("dynamodb", config=CLIENT_CONFIG)


class _Conflict(Exception):
    """A conditional write found the MSG item changed since it was read."""


def _s(value: str) -> "AttributeValueTypeDef":
    return {"S": value}


def _key(pk: str, sk: str) -> dict[str, "AttributeValueTypeDef"]:
    return {PARTITION_KEY: _s(pk), SORT_KEY: _s(sk)}


def _entry_attributes(entry: Entry) -> dict[str, "AttributeValueTypeDef"]:
    attributes: dict[str, AttributeValueTypeDef] = {
        "id": _s(entry.id),
        "received_at": _s(entry.received_at),
        "status": _s(entry.status),
        "mail_from": _s(entry.mail_from),
        "rcpt_to": {"L": [_s(a) for a in entry.rcpt_to]},
        "from": {"L": [_s(a) for a in entry.from_]},
        "to": {"L": [_s(a) for a in entry.to]},
        "size": {"N": str(entry.size)},
    }
    if entry.subject is not None:
        attributes["subject"] = _s(entry.subject)
    if entry.message_id is not None:
        attributes["message_id"] = _s(entry.message_id)
    return attributes


def _strings(item: "Item", name: str) -> list[str]:
    return [str(v["S"]) for v in item.get(name, {}).get("L", [])]


def _entry(item: "Item", *, held: bool = False) -> Entry:
    def optional(name: str) -> str | None:
        return item[name]["S"] if name in item else None

    return Entry(
        id=item["id"]["S"],
        received_at=item["received_at"]["S"],
        status=item["status"]["S"],
        mail_from=item["mail_from"]["S"],
        rcpt_to=tuple(_strings(item, "rcpt_to")),
        from_=tuple(_strings(item, "from")),
        to=tuple(_strings(item, "to")),
        subject=optional("subject"),
        message_id=optional("message_id"),
        size=int(item["size"]["N"]),
        held=held,
    )


def _is_pending(item: "Item") -> bool:
    return item.get("pending", {}).get("BOOL", False)


def _revision(item: "Item") -> int:
    return int(item.get("rev", {}).get("N", "0"))


class DynamoIndex:
    def __init__(self, client: "DynamoDBClient", table_name: str) -> None:
        self._client = client
        self.table_name = table_name

    @contextmanager
    def _translate(self, what: str) -> Iterator[None]:
        """botocore errors become Inlet's: a missing table is configuration, the rest transient."""
        try:
            yield
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code == "ConditionalCheckFailedException":
                raise _Conflict(what) from exc
            if code == "ResourceNotFoundException":
                raise ConfigError(
                    f"DynamoDB table {self.table_name!r} does not exist (check INLET_TABLE / "
                    "--table and the region)"
                ) from exc
            raise IndexUnavailable(f"DynamoDB refused to {what}: {code}") from exc
        except BotoCoreError as exc:
            raise IndexUnavailable(f"DynamoDB unreachable to {what}: {type(exc).__name__}") from exc

    # --- entries and lookups

    def _read_message(self, message_id: str) -> dict[str, "AttributeValueTypeDef"] | None:
        with self._translate(f"read {message_id}"):
            response = self._client.get_item(
                TableName=self.table_name,
                Key=_key(MESSAGE_PREFIX + message_id, MESSAGE_SORT),
                ConsistentRead=True,  # put and delete act on what the last write left
            )
        return response.get("Item")

    def put(self, document: Document) -> None:
        entry = entry_from_document(document)
        attributes = _entry_attributes(entry)
        new_keys = sorted({lookup_key(field, value) for field, value in lookups_of(document)})
        for _ in range(_CONFLICT_ATTEMPTS):
            old = self._read_message(entry.id)
            try:
                self._put(entry, attributes, new_keys, old)
            except _Conflict:
                # Another writer got in between: start again from what it left.
                log.info("index write raced another writer", extra={"message_id": entry.id})
                continue
            return
        raise IndexUnavailable(f"index {entry.id}: concurrent updates kept conflicting")

    def _put(
        self,
        entry: Entry,
        attributes: dict[str, "AttributeValueTypeDef"],
        new_keys: list[str],
        old: "Item | None",
    ) -> None:
        message_key = _key(MESSAGE_PREFIX + entry.id, MESSAGE_SORT)
        old_keys = set(_strings(old, "lookups")) if old else set()
        if old is not None and not _is_pending(old):
            if not replaces(entry.status, old["status"]["S"]):
                return  # a late "stored" document must not undo a parse
            if old_keys == set(new_keys) and _entry(old) == entry:
                return  # indexed exactly so already (a redelivery)
        revision = _revision(old) if old else 0
        intent = revision + 1
        # 1. Intent: the MSG item lists every lookup item that may exist after this point.
        with self._translate(f"index {entry.id}"):
            if old is None:
                self._client.put_item(
                    TableName=self.table_name,
                    Item={
                        **message_key,
                        "lookups": {"L": [_s(k) for k in new_keys]},
                        "rev": {"N": str(intent)},
                        "pending": {"BOOL": True},
                    },
                    ConditionExpression="attribute_not_exists(pk)",
                )
            else:
                self._client.update_item(
                    TableName=self.table_name,
                    Key=message_key,
                    UpdateExpression="SET lookups = :keys, rev = :intent",
                    ConditionExpression="rev = :rev",
                    ExpressionAttributeValues={
                        ":keys": {"L": [_s(k) for k in sorted(old_keys | set(new_keys))]},
                        ":intent": {"N": str(intent)},
                        ":rev": {"N": str(revision)},
                    },
                )
        # 2. The lookup items, then 3. away with those that no longer apply.
        self._write_batch(
            [{"PutRequest": {"Item": {**_key(k, entry.id), **attributes}}} for k in new_keys],
            f"index {entry.id}",
        )
        stale = sorted(old_keys - set(new_keys))
        self._write_batch(
            [{"DeleteRequest": {"Key": _key(k, entry.id)}} for k in stale],
            f"index {entry.id}",
        )
        # 4. The entry itself, no longer pending, listing exactly the lookups that exist.
        with self._translate(f"index {entry.id}"):
            self._client.put_item(
                TableName=self.table_name,
                Item={
                    **message_key,
                    **attributes,
                    "lookups": {"L": [_s(k) for k in new_keys]},
                    "rev": {"N": str(intent + 1)},
                },
                ConditionExpression="rev = :intent",
                ExpressionAttributeValues={":intent": {"N": str(intent)}},
            )

    def _write_batch(self, requests: Sequence["WriteRequestTypeDef"], what: str) -> None:
        """BatchWriteItem in chunks, retrying unprocessed (throttled) requests a bounded number
        of times with backoff; IndexUnavailable if some never go through."""
        for start in range(0, len(requests), _BATCH_SIZE):
            pending: Sequence[Any] = requests[start : start + _BATCH_SIZE]
            for attempt in range(_BATCH_ATTEMPTS):
                with self._translate(what):
                    response = self._client.batch_write_item(
                        RequestItems={self.table_name: pending}
                    )
                pending = response.get("UnprocessedItems", {}).get(self.table_name, [])
                if not pending:
                    break
                time.sleep(min(0.05 * 2**attempt, 2.0))
            else:
                raise IndexUnavailable(f"DynamoDB kept throttling writes to {what}")

    def search(
        self,
        field: SearchField,
        value: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        normal = search_value(field, value)
        check_limit(limit)
        pk = lookup_key(field, normal)
        lower, upper = id_bounds(since, until)
        start: dict[str, AttributeValueTypeDef] | None = None
        if cursor is not None:
            last = decode_cursor(cursor, pk)
            if last <= lower:
                return Page([], None)  # the previous page reached the lower bound
            if upper is None or last < upper:
                start = _key(pk, last)
        if upper is not None and upper <= lower:
            return Page([], None)  # an empty range (BETWEEN would reject it)
        query: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :lower AND :upper",
            "ExpressionAttributeValues": {
                ":pk": _s(pk),
                ":lower": _s(lower),
                ":upper": _s(upper or _NO_UPPER),
            },
            "ScanIndexForward": False,  # newest first
            "Limit": limit + 1,  # one more than asked for says whether another page exists
        }
        if start is not None:
            query["ExclusiveStartKey"] = start
        with self._translate(f"search {field}"):
            response = self._client.query(**query)
        items = response["Items"]
        if items and upper is not None and items[0][SORT_KEY]["S"] == upper:
            items = items[1:]  # BETWEEN includes `upper`; the range does not
        entries = [_entry(item) for item in items[:limit]]
        # A Query also stops at 1 MB of items: then the page is short but not the last.
        more = len(items) > limit or "LastEvaluatedKey" in response
        return Page(entries, encode_cursor(pk, entries[-1].id) if more and entries else None)

    def get(self, message_id: str) -> Entry | None:
        with self._translate(f"read {message_id}"):
            response = self._client.query(
                TableName=self.table_name,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": _s(MESSAGE_PREFIX + message_id)},
                ConsistentRead=True,
            )
        by_sort = {item[SORT_KEY]["S"]: item for item in response["Items"]}
        message = by_sort.get(MESSAGE_SORT)
        if message is None or _is_pending(message):
            return None
        return _entry(message, held=HOLD_SORT in by_sort)

    def delete(self, message_id: str) -> None:
        check_id(message_id)
        for _ in range(_CONFLICT_ATTEMPTS):
            old = self._read_message(message_id)
            if old is None:
                return
            # Lookups first, the MSG item (which lists them) last: a retry finds what is left.
            self._write_batch(
                [
                    {"DeleteRequest": {"Key": _key(k, message_id)}}
                    for k in sorted(set(_strings(old, "lookups")))
                ],
                f"delete {message_id}",
            )
            try:
                with self._translate(f"delete {message_id}"):
                    self._client.delete_item(
                        TableName=self.table_name,
                        Key=_key(MESSAGE_PREFIX + message_id, MESSAGE_SORT),
                        ConditionExpression="rev = :rev",
                        ExpressionAttributeValues={":rev": {"N": str(_revision(old))}},
                    )
            except _Conflict:
                # A put got in between and may have written more lookups: delete those too.
                log.info("index delete raced a writer", extra={"message_id": message_id})
                continue
            return
        raise IndexUnavailable(f"delete {message_id}: concurrent updates kept conflicting")

    # --- holds

    def hold(self, message_id: str) -> None:
        with self._translate(f"hold {message_id}"):
            self._client.put_item(
                TableName=self.table_name,
                Item=_key(MESSAGE_PREFIX + check_id(message_id), HOLD_SORT),
            )

    def release(self, message_id: str) -> None:
        with self._translate(f"release {message_id}"):
            self._client.delete_item(
                TableName=self.table_name,
                Key=_key(MESSAGE_PREFIX + check_id(message_id), HOLD_SORT),
            )

    def is_held(self, message_id: str) -> bool:
        with self._translate(f"read the hold of {message_id}"):
            response = self._client.get_item(
                TableName=self.table_name,
                Key=_key(MESSAGE_PREFIX + message_id, HOLD_SORT),
                ConsistentRead=True,  # retention must not expire a message held a moment ago
            )
        return "Item" in response

    def held_ids(self) -> Iterator[str]:
        # A Scan (see the module docstring); read at once, then sorted like SQLite's answer.
        found: list[str] = []
        paginator = self._client.get_paginator("scan")
        with self._translate("list holds"):
            for page in paginator.paginate(
                TableName=self.table_name,
                FilterExpression="sk = :hold",
                ProjectionExpression="pk",
                ExpressionAttributeValues={":hold": _s(HOLD_SORT)},
                ConsistentRead=True,
            ):
                found.extend(
                    item[PARTITION_KEY]["S"].removeprefix(MESSAGE_PREFIX) for item in page["Items"]
                )
        return iter(sorted(found))

    def close(self) -> None:
        """Nothing to release: botocore's connection pool needs no closing."""
