"""Reprocessing (inlet.reprocess) over both blob-store adapters and both indexes: documents of
an older parser rewritten, stale attachments and lookups gone, verdicts kept unless rechecked,
the range respected (listing only its date prefixes), a re-run changing nothing."""

import hashlib
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import pytest

from inlet import keys
from inlet.blobstore import BlobStore, StorageError
from inlet.document import Document
from inlet.envelope import Envelope
from inlet.events import NoEvents
from inlet.index import Index
from inlet.index.dynamodb import DynamoIndex
from inlet.index.sqlite import SqliteIndex
from inlet.message_store import MessageStore
from inlet.parsing import PARSER_VERSION, quarantine_document
from inlet.pipeline import parse_stored
from inlet.reprocess import ReprocessReport, ids_in_range, reprocess, reprocess_message
from tests.sinks import RecordingSink
from tests.stored import store_message

pytestmark = pytest.mark.unit

NOW = datetime(2026, 6, 15, 12, tzinfo=UTC)
MESSAGE = (
    b"From: Alice <alice@example.org>\r\nTo: Bob <bob@example.com>\r\nSubject: report\r\n"
    b"Message-ID: <reprocess-1@example.org>\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
    b"--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
    b"--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; "
    b'filename="q2.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b--\r\n'
)


def verdicts_at_receipt(raw: Sequence[bytes], envelope: Envelope) -> dict[str, Any]:
    """The verdicts an earlier parse computed: what DNS said when the message arrived."""
    return _verdicts("pass", raw, envelope)


def verdicts_now(raw: Sequence[bytes], envelope: Envelope) -> dict[str, Any]:
    """Stands in for today's DNS (a DKIM key rotated away since): derived from the message,
    so a verdict computed now is told apart from one kept."""
    return _verdicts("fail", raw, envelope)


def _verdicts(result: str, raw: Sequence[bytes], envelope: Envelope) -> dict[str, Any]:
    domain = envelope.mail_from.rpartition("@")[2]
    return {
        "spf": {"result": result, "domain": domain, "helo_result": "none"},
        "dkim": [{"result": result, "domain": domain, "selector": "s1"}],
        "dmarc": {"result": result, "policy": "reject", "domain": domain},
        "arc": {"result": "none", "chain_length": 0},
        "header": f"relay.test; spf={result}; dkim={result}; dmarc={result}; arc=none "
        f"(sha256 {hashlib.sha256(b''.join(raw)).hexdigest()[:12]})",
    }


def write_older_parse(
    messages: MessageStore,
    index: Index,
    envelope: Envelope,
    *,
    authentication: Literal["at receipt", "failed", "absent"] = "at receipt",
) -> Document:
    """What parser "0" left for a stored message, saved and indexed as that earlier run did:
    its attachment under another name and number, a To it misread, its parser_version, and
    the verdicts of receipt ("failed": None, their computation raised; "absent": parsed
    before verdicts existed, so no such key)."""
    document = parse_stored(
        messages, envelope.id, now=NOW - timedelta(days=30), verdicts=verdicts_at_receipt
    )
    for item in document["attachments"]:
        data = messages.blobs.get(item["key"]).data
        messages.blobs.delete(item["key"])  # parser 0 never wrote this key
        item["index"] += 1
        item["filename"] = "attachment.bin"
        item["key"] = messages.save_attachment(
            envelope.id, item["index"], item["filename"], data, "application/octet-stream",
            hashlib.sha256(data).digest(),
        )  # fmt: skip
    document["to"] = [{"name": "", "address": "misread@example.net"}]
    document["parser_version"] = "0"
    raw_document: dict[str, Any] = document  # type: ignore[assignment]
    if authentication == "absent":
        del raw_document["authentication"]
    elif authentication == "failed":
        raw_document["authentication"] = None
    messages.save_document(envelope.id, document)
    index.put(document)
    return document


def without_parsed_at(document: Document | None) -> dict[str, Any]:
    assert document is not None
    return {k: v for k, v in document.items() if k != "parsed_at"}


@pytest.fixture
def messages(store: BlobStore) -> MessageStore:
    return MessageStore(store)


@pytest.fixture
def sqlite_index(tmp_path: Any) -> Iterator[SqliteIndex]:
    index = SqliteIndex(tmp_path / "index.sqlite3")
    yield index
    index.close()


def run(messages: MessageStore, index: Index, **kwargs: Any) -> ReprocessReport:
    report = ReprocessReport()
    for outcome in reprocess(
        messages,
        index,
        since=kwargs.pop("since", None),
        until=kwargs.pop("until", None),
        now=NOW,
        verdicts=verdicts_now,
        events=kwargs.pop("events", NoEvents()),
        **kwargs,
    ):
        report.add(outcome)
    return report


def test_an_older_parse_is_rewritten_and_its_stale_pieces_removed(
    messages: MessageStore, sqlite_index: SqliteIndex
) -> None:
    envelope = store_message(messages, MESSAGE, at=NOW - timedelta(days=30))
    old = write_older_parse(messages, sqlite_index, envelope)
    [old_attachment] = old["attachments"]
    assert [e.id for e in sqlite_index.search("to", "misread@example.net").entries] == [envelope.id]

    report = run(messages, sqlite_index)

    assert (report.examined, report.parsed, report.failed, report.attachments_removed) == (
        1,
        1,
        0,
        1,
    )
    document = messages.load_document(envelope.id)
    assert document is not None
    assert document["parser_version"] == PARSER_VERSION != "0"
    [attachment] = document["attachments"]
    assert attachment["key"] == keys.attachment_key(envelope.id, 0, "q2.pdf")
    assert messages.blobs.get(attachment["key"]).data == b"%PDF-1.4\n"
    assert list(messages.blobs.list(keys.attachments_prefix(envelope.id))) == [attachment["key"]]
    assert old_attachment["key"] != attachment["key"]
    # The index entry and its lookups follow the new document; the misread To is gone.
    assert sqlite_index.search("to", "misread@example.net").entries == []
    assert [e.id for e in sqlite_index.search("to", "bob@example.com").entries] == [envelope.id]


def test_verdicts_are_kept_unless_missing_or_rechecked(
    messages: MessageStore, sqlite_index: SqliteIndex
) -> None:
    kept = store_message(messages, MESSAGE)
    never = store_message(messages, MESSAGE)  # parsed before verdicts existed
    failed = store_message(messages, MESSAGE)  # computing them failed: None
    write_older_parse(messages, sqlite_index, kept)
    write_older_parse(messages, sqlite_index, never, authentication="absent")
    write_older_parse(messages, sqlite_index, failed, authentication="failed")

    report = run(messages, sqlite_index)

    assert (report.authentication_kept, report.authentication_computed) == (1, 2)
    raw = messages.load_raw(kept.id)
    assert _auth(messages, kept.id) == verdicts_at_receipt([raw], kept)
    assert _auth(messages, never.id) == verdicts_now([raw], never)
    assert _auth(messages, failed.id) == verdicts_now([raw], failed)

    rechecked = run(messages, sqlite_index, recheck_authentication=True)

    assert (rechecked.authentication_kept, rechecked.authentication_computed) == (0, 3)
    assert _auth(messages, kept.id) == verdicts_now([raw], kept)


def _auth(messages: MessageStore, message_id: str) -> object:
    document: dict[str, Any] = messages.load_document(message_id)  # type: ignore[assignment]
    return document["authentication"]


def test_a_second_run_changes_nothing_but_parsed_at(
    messages: MessageStore, sqlite_index: SqliteIndex
) -> None:
    envelopes = [store_message(messages, MESSAGE) for _ in range(3)]
    for envelope in envelopes:
        write_older_parse(messages, sqlite_index, envelope)
    run(messages, sqlite_index)
    keys_after_first = list(messages.blobs.list(""))
    documents = [without_parsed_at(messages.load_document(e.id)) for e in envelopes]
    entries = [sqlite_index.get(e.id) for e in envelopes]
    attachments = {k: messages.blobs.get(k).data for k in keys_after_first if "attachments/" in k}

    again = run(messages, sqlite_index)

    assert (again.parsed, again.attachments_removed, again.authentication_kept) == (3, 0, 3)
    assert list(messages.blobs.list("")) == keys_after_first
    assert [without_parsed_at(messages.load_document(e.id)) for e in envelopes] == documents
    assert [sqlite_index.get(e.id) for e in envelopes] == entries
    assert {k: messages.blobs.get(k).data for k in attachments} == attachments
    assert [e.id for e in sqlite_index.search("to", "bob@example.com").entries] == sorted(
        (e.id for e in envelopes), reverse=True
    )


def test_a_quarantined_message_that_now_parses_is_parsed(
    messages: MessageStore, sqlite_index: SqliteIndex
) -> None:
    envelope = store_message(messages, MESSAGE)
    # What the earlier parser left when it raised on this message.
    record = quarantine_document(envelope, "parser raised KeyError: 'boundary'", NOW)
    messages.quarantine(record)
    sqlite_index.put(record)

    emitted = RecordingSink()
    [outcome] = list(
        reprocess(
            messages,
            sqlite_index,
            since=None,
            until=None,
            now=NOW,
            verdicts=verdicts_now,
            events=emitted,
        )
    )

    assert (outcome.status, outcome.authentication) == ("parsed", "computed")
    # It was quarantined until now: its consumers learn it arrived after all.
    assert [e["detail"]["event_id"] for e in emitted.events] == [f"{envelope.id}:received"]
    document = messages.load_document(envelope.id)
    assert document is not None
    assert document["status"] == "parsed"
    assert document["reason"] is None
    assert messages.load_quarantine(envelope.id) is None  # no longer true
    entry = sqlite_index.get(envelope.id)
    assert entry is not None
    assert (entry.status, entry.subject) == ("parsed", "report")


def test_only_the_range_is_reprocessed_and_only_its_days_are_listed(
    messages: MessageStore, sqlite_index: SqliteIndex
) -> None:
    days = [datetime(2026, 1, 31, 23, 59, tzinfo=UTC) + timedelta(days=n) for n in range(4)]
    envelopes = [store_message(messages, MESSAGE, at=at) for at in days]
    for envelope in envelopes:
        write_older_parse(messages, sqlite_index, envelope)
    listed = Listing(messages.blobs)
    ranged = MessageStore(listed)  # type: ignore[arg-type]

    # `until` at midnight: the day it starts is not listed.
    report = run(ranged, sqlite_index, since=days[1], until=datetime(2026, 2, 3, tzinfo=UTC))

    assert report.examined == 2
    versions = [messages.load_document(e.id)["parser_version"] for e in envelopes]  # type: ignore[index]
    assert versions == ["0", PARSER_VERSION, PARSER_VERSION, "0"]
    raw_listings = [p for p in listed.prefixes if p.startswith(keys.RAW_PREFIX)]
    assert raw_listings == ["raw/2026/02/01/", "raw/2026/02/02/"]


def test_since_alone_lists_through_tomorrow_and_until_alone_from_the_start(
    messages: MessageStore,
) -> None:
    old = store_message(messages, MESSAGE, at=NOW - timedelta(days=400))
    recent = store_message(messages, MESSAGE, at=NOW - timedelta(hours=1))
    ahead = store_message(messages, MESSAGE, at=NOW + timedelta(hours=2))  # a clock ahead
    listed = Listing(messages.blobs)
    ranged = MessageStore(listed)  # type: ignore[arg-type]
    since = NOW - timedelta(days=2)
    assert list(ids_in_range(ranged, since, None, now=NOW)) == [recent.id, ahead.id]
    assert listed.prefixes == [
        "raw/2026/06/13/",
        "raw/2026/06/14/",
        "raw/2026/06/15/",
        "raw/2026/06/16/",
    ]
    assert list(ids_in_range(ranged, None, NOW, now=NOW)) == [old.id, recent.id]
    assert list(ids_in_range(ranged, None, None, now=NOW)) == [old.id, recent.id, ahead.id]


def test_a_whole_year_is_one_listing(messages: MessageStore) -> None:
    inside = store_message(messages, MESSAGE, at=datetime(2025, 7, 1, tzinfo=UTC))
    store_message(messages, MESSAGE, at=datetime(2026, 3, 1, tzinfo=UTC))
    listed = Listing(messages.blobs)
    found = list(
        ids_in_range(
            MessageStore(listed),  # type: ignore[arg-type]
            datetime(2024, 12, 31, tzinfo=UTC),
            datetime(2026, 2, 1, tzinfo=UTC),
            now=NOW,
        )
    )
    assert found == [inside.id]
    assert listed.prefixes == ["raw/2024/12/31/", "raw/2025/", "raw/2026/01/"]


def test_one_failing_message_does_not_stop_the_rest(
    messages: MessageStore, sqlite_index: SqliteIndex
) -> None:
    envelopes = [store_message(messages, MESSAGE) for _ in range(3)]
    for envelope in envelopes:
        write_older_parse(messages, sqlite_index, envelope)
    broken = MessageStore(FailingPuts(messages.blobs, keys.parsed_key(envelopes[1].id)))  # type: ignore[arg-type]

    report = run(broken, sqlite_index)

    assert (report.parsed, report.failed, report.failed_ids) == (2, 1, [envelopes[1].id])
    versions = [messages.load_document(e.id)["parser_version"] for e in envelopes]  # type: ignore[index]
    assert versions == [PARSER_VERSION, "0", PARSER_VERSION]
    # The failed one lost nothing: its old document still names attachments that exist.
    old = messages.load_document(envelopes[1].id)
    assert old is not None
    for item in old["attachments"]:
        assert messages.blobs.get(item["key"]).data == b"%PDF-1.4\n"


def test_a_raw_message_gone_meanwhile_is_skipped(
    messages: MessageStore, sqlite_index: SqliteIndex
) -> None:
    envelope = store_message(messages, MESSAGE)
    write_older_parse(messages, sqlite_index, envelope)
    messages.blobs.delete(keys.raw_key(envelope.id))  # retention got there after the listing

    outcome = reprocess_message(
        messages, sqlite_index, envelope.id, now=NOW, verdicts=verdicts_now, events=NoEvents()
    )

    assert outcome.status == "skipped"
    document = messages.load_document(envelope.id)
    assert document is not None
    assert document["parser_version"] == "0"  # left to retention, untouched


def test_dynamodb_lookups_follow_the_new_document(
    s3_store: BlobStore, dynamodb_client: Any
) -> None:
    from tests.conftest import INDEX_TABLE

    messages = MessageStore(s3_store)
    index = DynamoIndex(dynamodb_client, INDEX_TABLE)
    envelope = store_message(messages, MESSAGE)
    write_older_parse(messages, index, envelope)
    assert [e.id for e in index.search("to", "misread@example.net").entries] == [envelope.id]

    assert run(messages, index).parsed == 1
    items_after_first = _items(dynamodb_client)
    assert run(messages, index).parsed == 1

    assert index.search("to", "misread@example.net").entries == []
    assert [e.id for e in index.search("to", "bob@example.com").entries] == [envelope.id]
    assert not any("misread" in str(item) for item in items_after_first)
    assert _items(dynamodb_client) == items_after_first  # nothing added by a second run


def _items(client: Any) -> list[dict[str, Any]]:
    from tests.conftest import INDEX_TABLE

    items = client.scan(TableName=INDEX_TABLE, ConsistentRead=True)["Items"]
    return sorted(items, key=lambda i: (i["pk"]["S"], i["sk"]["S"]))


class Listing:
    """A blob store that records the prefixes it is asked to list."""

    def __init__(self, inner: BlobStore) -> None:
        self.inner = inner
        self.prefixes: list[str] = []

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def list(self, prefix: str) -> Iterator[str]:
        self.prefixes.append(prefix)
        return self.inner.list(prefix)


class FailingPuts:
    """A blob store whose puts of one key fail, as a full disk or a failing S3 would."""

    def __init__(self, inner: BlobStore, key: str) -> None:
        self.inner = inner
        self.key = key

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def put(self, key: str, data: bytes, **kwargs: Any) -> None:
        if key == self.key:
            raise StorageError("disk full (injected)")
        self.inner.put(key, data, **kwargs)
