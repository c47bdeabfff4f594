"""Reindex (inlet.reindex) over the filesystem store, on SQLite and DynamoDB: a rebuilt index
answers as the one it replaces (entries, searches, holds), messages never parsed stay findable,
holds found only in the index are recorded first, and failures are reported, not fatal."""

import dataclasses
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from inlet import keys
from inlet.blobstore.filesystem import FilesystemBlobStore
from inlet.document import Document
from inlet.envelope import Envelope
from inlet.index import Index, IndexUnavailable
from inlet.index.dynamodb import DynamoIndex
from inlet.index.sqlite import SqliteIndex
from inlet.message_store import Hold, MessageStore
from inlet.parsing import quarantine_document, stored_document
from inlet.pipeline import no_verdicts, parse_stored
from inlet.reindex import MIGRATED_BY, ReindexReport, migrate_holds, reindex
from tests.aws import create_index_table
from tests.cli import run_cli
from tests.stored import store_message

pytestmark = pytest.mark.unit

NOW = datetime(2026, 6, 15, 12, tzinfo=UTC)
AT = datetime(2026, 5, 30, 23, 50, tzinfo=UTC)  # across a day boundary: several prefixes


def raw(n: int) -> bytes:
    return (
        f"From: Sender {n} <s{n}@Example.org>\r\nTo: r{n % 2}@example.com\r\n"
        f"Cc: cc@example.net\r\nSubject: message {n}\r\nMessage-ID: <m{n}@example.org>\r\n\r\n"
        "body\r\n"
    ).encode()


@pytest.fixture
def messages(tmp_path: Path) -> MessageStore:
    return MessageStore(FilesystemBlobStore(tmp_path / "data"))


IndexMaker = Callable[[], Index]


@pytest.fixture(params=["sqlite", "dynamodb"])
def new_index(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[IndexMaker]:
    """Makes empty indexes of one kind (a fresh file, a fresh table)."""
    made: list[Index] = []
    if request.param == "sqlite":

        def make() -> Index:
            made.append(SqliteIndex(tmp_path / f"index-{len(made)}.sqlite3"))
            return made[-1]

    else:
        client = request.getfixturevalue("dynamodb_client")

        def make() -> Index:
            table = f"reindex-{len(made)}"
            create_index_table(client, table)
            made.append(DynamoIndex(client, table))
            return made[-1]

    yield make
    for index in made:
        index.close()


def fill(messages: MessageStore, index: Index) -> dict[str, Envelope]:
    """What the pipeline leaves: parsed messages, a quarantined one, one stored but not parsed
    yet, two held (one of them recorded in the store, one only in the index)."""
    envelopes = {
        f"parsed{n}": store_message(
            messages, raw(n), at=AT + timedelta(minutes=7 * n), rcpt_to=[f"r{n % 2}@example.com"]
        )
        for n in range(4)
    }
    for envelope in envelopes.values():
        index.put(parse_stored(messages, envelope.id, now=NOW, verdicts=no_verdicts))
    bad = envelopes["quarantined"] = store_message(messages, b"\x00", at=AT + timedelta(hours=1))
    quarantined = quarantine_document(bad, "unreadable message: test", NOW)
    messages.quarantine(quarantined)
    index.put(quarantined)
    stored = envelopes["stored"] = store_message(messages, raw(9), at=AT + timedelta(hours=2))
    index.put(stored_document(stored))
    for name in ("parsed1", "stored"):
        index.hold(envelopes[name].id)
    messages.save_hold(Hold(envelopes["parsed1"].id, "2026-06-01T00:00:00Z", "ops", "case 7"))
    return envelopes


def answers(index: Index, envelopes: dict[str, Envelope]) -> dict[str, Any]:
    """Everything the index says about these messages."""
    searches: list[tuple[Any, str]] = [
        ("to", "r0@example.com"),
        ("to", "r1@example.com"),
        ("to", "cc@example.net"),
        ("to", "rcpt@example.com"),
        ("from", "sender@example.org"),
        ("from", "s2@example.org"),
        ("message_id", "m3@example.org"),
    ]
    return {
        "entries": {name: index.get(e.id) for name, e in envelopes.items()},
        "searches": {
            f"{f}={v}": [entry.id for entry in index.search(f, v, limit=1000).entries]
            for f, v in searches
        },
        "holds": list(index.held_ids()),
    }


def test_a_rebuilt_index_answers_as_the_old_one(
    messages: MessageStore, new_index: IndexMaker
) -> None:
    old = new_index()
    envelopes = fill(messages, old)
    before = answers(old, envelopes)
    assert before["entries"]["stored"].status == "stored"  # the case under test is there
    rebuilt = new_index()

    report = reindex(messages, rebuilt, now=NOW)

    assert (report.documents, report.stored_only, report.failed) == (5, 1, 0)
    # The hold only the old index had is not in the rebuilt one's source: the empty index
    # had no holds to migrate (run reindex on the old index, or --migrate-holds, before).
    assert (report.holds_applied, report.holds_migrated) == (1, 0)
    after = answers(rebuilt, envelopes)
    assert after["entries"] == {
        **before["entries"],
        "stored": dataclasses.replace(before["entries"]["stored"], held=False),
    }
    assert after["searches"] == before["searches"]
    assert after["holds"] == [envelopes["parsed1"].id]


def test_reindex_in_place_migrates_the_index_holds_first_and_changes_nothing_else(
    messages: MessageStore, new_index: IndexMaker
) -> None:
    index = new_index()
    envelopes = fill(messages, index)
    before = answers(index, envelopes)

    report = reindex(messages, index, now=NOW)
    again = reindex(messages, index, now=NOW)

    assert (report.holds_migrated, report.holds_applied) == (1, 2)
    assert (again.holds_migrated, again.holds_applied) == (0, 2)
    assert answers(index, envelopes) == before
    assert messages.load_hold(envelopes["stored"].id) == Hold(
        envelopes["stored"].id, "2026-06-15T12:00:00Z", MIGRATED_BY, None
    )
    # The hold recorded by `inlet hold` is left as it was.
    assert messages.load_hold(envelopes["parsed1"].id) == Hold(
        envelopes["parsed1"].id, "2026-06-01T00:00:00Z", "ops", "case 7"
    )
    # So an index rebuilt from nothing now keeps both.
    rebuilt = new_index()
    reindex(messages, rebuilt, now=NOW)
    assert answers(rebuilt, envelopes) == before


def test_migrate_holds_alone_is_idempotent(messages: MessageStore, new_index: IndexMaker) -> None:
    index = new_index()
    envelopes = fill(messages, index)

    first = migrate_holds(messages, index, now=NOW)
    second = migrate_holds(messages, index, now=NOW + timedelta(days=1))

    assert (first.holds_migrated, second.holds_migrated, first.documents) == (1, 0, 0)
    assert list(messages.held_ids()) == sorted([envelopes["parsed1"].id, envelopes["stored"].id])
    hold = messages.load_hold(envelopes["stored"].id)
    assert hold is not None
    assert hold.held_at == "2026-06-15T12:00:00Z"


class FlakyIndex:
    """An index that refuses to index one message."""

    def __init__(self, index: Index, refused: str) -> None:
        self._index = index
        self.refused = refused

    def put(self, document: Document) -> None:
        if document["id"] == self.refused:
            raise IndexUnavailable("throttled")
        self._index.put(document)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._index, name)


def test_failures_are_reported_and_the_rest_indexed(
    tmp_path: Path, messages: MessageStore, new_index: IndexMaker
) -> None:
    envelopes = fill(messages, new_index())
    unreadable = envelopes["parsed0"].id
    (tmp_path / "data" / keys.parsed_key(unreadable)).write_bytes(b'{"id": "trunc')
    rebuilt = new_index()

    report = reindex(messages, FlakyIndex(rebuilt, envelopes["parsed2"].id), now=NOW)

    assert (report.documents, report.stored_only, report.failed) == (3, 1, 2)
    assert [line.split(":")[0] for line in report.failed_ids] == sorted(
        [unreadable, envelopes["parsed2"].id]
    )
    assert "unreadable" in report.failed_ids[0] or "unreadable" in report.failed_ids[1]
    assert rebuilt.get(envelopes["parsed3"].id) is not None
    assert rebuilt.get(unreadable) is None


def test_a_document_whose_raw_is_gone_is_still_indexed(
    tmp_path: Path, messages: MessageStore, new_index: IndexMaker
) -> None:
    envelopes = fill(messages, new_index())
    gone = envelopes["parsed3"].id
    (tmp_path / "data" / keys.raw_key(gone)).unlink()  # retention stopped half way
    rebuilt = new_index()

    report = reindex(messages, rebuilt, now=NOW)

    assert (report.documents, report.stored_only, report.failed) == (5, 1, 0)
    entry = rebuilt.get(gone)
    assert entry is not None
    assert entry.status == "parsed"


def test_reindex_command_after_the_index_file_is_deleted(
    tmp_path: Path, messages: MessageStore
) -> None:
    data = tmp_path / "data"
    index = SqliteIndex(data / "index.sqlite3")
    envelopes = fill(messages, index)
    before = answers(index, envelopes)
    migrated = run_cli("reindex", "--data-dir", str(data), "--migrate-holds")
    index.close()
    for name in ("index.sqlite3", "index.sqlite3-wal", "index.sqlite3-shm"):
        (data / name).unlink(missing_ok=True)

    ran = run_cli("reindex", "--data-dir", str(data), "--json")
    text = run_cli("reindex", "--data-dir", str(data))

    assert migrated.returncode == 0, migrated.stderr
    assert migrated.stdout.startswith("recorded 1 holds found only in the index")
    assert ran.returncode == 0, ran.stderr
    report = json.loads(ran.stdout)
    assert report.keys() == set(ReindexReport().to_dict())
    assert (report["documents"], report["stored_only"], report["holds_applied"]) == (5, 1, 2)
    assert text.stdout.startswith("reindexed 5 documents and 1 messages not yet parsed; 2 holds")
    rebuilt = SqliteIndex(data / "index.sqlite3")
    assert answers(rebuilt, envelopes) == before
    rebuilt.close()


def test_reindex_command_exits_1_naming_what_failed(tmp_path: Path, messages: MessageStore) -> None:
    data = tmp_path / "data"
    envelope = store_message(messages, raw(1))
    parse_stored(messages, envelope.id, now=NOW, verdicts=no_verdicts)
    (data / keys.parsed_key(envelope.id)).write_bytes(b"not json")

    ran = run_cli("reindex", "--data-dir", str(data))

    assert ran.returncode == 1
    assert f"inlet: {envelope.id}: " in ran.stderr
    assert "unreadable" in ran.stderr
