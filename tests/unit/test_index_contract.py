"""One contract, every adapter: the SQLite index of `inlet up` and DynamoDB cannot drift apart."""

import random
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError

import inlet.index
from inlet.errors import ConfigError, TransientError
from inlet.ids import lowest_id, mint_id
from inlet.index import Index, IndexUnavailable, Page
from inlet.index.dynamodb import DynamoIndex, make_dynamodb_client
from inlet.index.records import SearchField, encode_cursor
from inlet.index.sqlite import SCHEMA_VERSION, SqliteIndex
from tests.builders import make_document
from tests.faults import Fault

pytestmark = pytest.mark.unit

BASE_MS = int(datetime(2026, 3, 1, 12, 0, tzinfo=UTC).timestamp() * 1000)


def at(minutes: float) -> datetime:
    return datetime.fromtimestamp(BASE_MS / 1000, tz=UTC) + timedelta(minutes=minutes)


def id_at(minutes: float) -> str:
    return mint_id(now_ms=BASE_MS + int(minutes * 60_000))


@pytest.fixture(params=["sqlite", "dynamodb"])
def index(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Index]:
    adapter: Index
    if request.param == "sqlite":
        adapter = SqliteIndex(tmp_path / "index.sqlite3")
    else:
        client = request.getfixturevalue("dynamodb_client")
        adapter = DynamoIndex(client, client.list_tables()["TableNames"][0])
    yield adapter
    adapter.close()


def ids(page: Page) -> list[str]:
    return [entry.id for entry in page.entries]


def found(index: Index, field: SearchField, value: str, **kwargs: Any) -> list[str]:
    return ids(index.search(field, value, **kwargs))


def test_the_public_names_are_the_port() -> None:
    assert sorted(inlet.index.__all__) == [
        "Entry",
        "Index",
        "IndexUnavailable",
        "Page",
        "SearchField",
    ]
    assert issubclass(IndexUnavailable, TransientError)


def test_put_and_get_round_trip(index: Index) -> None:
    document = make_document(cc=["cc@example.net"], subject="Grüße")
    index.put(document)
    entry = index.get(document["id"])
    assert entry is not None
    assert entry.to_dict() == {
        "id": document["id"],
        "received_at": document["envelope"]["received_at"],
        "status": "parsed",
        "mail_from": "sender@example.org",
        "rcpt_to": ["rcpt@example.com"],
        "from": ["Author@Example.org"],
        "to": ["rcpt@example.com", "cc@example.net"],
        "subject": "Grüße",
        "message_id": "<abc.123@mail.example.org>",
        "size": 1234,
        "held": False,
    }


def test_get_of_an_unknown_id(index: Index) -> None:
    assert index.get(mint_id()) is None
    assert index.get("not-an-id") is None


def test_each_search_field(index: Index) -> None:
    document = make_document(
        mail_from="bounce-1@lists.example.org",
        rcpt_to=["env@example.com"],
        header_from=["author@example.org"],
        to=["header-to@example.com"],
        cc=["header-cc@example.com"],
        header_id="<unique.1@example.org>",
    )
    other = make_document(rcpt_to=["someone@example.com"], to=[], header_id="<other@x>")
    index.put(document)
    index.put(other)
    expected = [document["id"]]
    searches: list[tuple[SearchField, str]] = [
        ("to", "env@example.com"),
        ("to", "header-to@example.com"),
        ("to", "header-cc@example.com"),
        ("from", "bounce-1@lists.example.org"),
        ("from", "author@example.org"),
        ("message_id", "<unique.1@example.org>"),
    ]
    for field, value in searches:
        assert found(index, field, value) == expected, (field, value)
    # A field matches only its own addresses.
    assert found(index, "to", "author@example.org") == []
    assert found(index, "from", "env@example.com") == []
    page = index.search("to", "env@example.com")
    assert page.cursor is None
    assert page.entries[0].subject == "Hello"


def test_domains_compare_case_insensitively_local_parts_do_not(index: Index) -> None:
    document = make_document(rcpt_to=["Alice@Example.COM"], to=[], header_from=["Bob@MAIL.org"])
    index.put(document)
    assert found(index, "to", "Alice@example.com") == [document["id"]]
    assert found(index, "to", " <Alice@EXAMPLE.com> ") == [document["id"]]
    assert found(index, "from", "Bob@mail.ORG") == [document["id"]]
    assert found(index, "to", "alice@example.com") == []


def test_message_id_with_or_without_brackets(index: Index) -> None:
    document = make_document(header_id="<Mixed.Case$1@Example.org>")
    index.put(document)
    for query in [
        "<Mixed.Case$1@Example.org>",
        "Mixed.Case$1@Example.org",
        " <Mixed.Case$1@Example.org>",
    ]:
        assert found(index, "message_id", query) == [document["id"]]
    assert found(index, "message_id", "mixed.case$1@example.org") == []


def test_the_null_sender_is_searchable(index: Index) -> None:
    bounce = make_document(mail_from="", header_from=["MAILER-DAEMON@example.org"])
    index.put(bounce)
    index.put(make_document())
    assert found(index, "from", "<>") == [bounce["id"]]
    assert found(index, "from", "") == [bounce["id"]]
    entry = index.get(bounce["id"])
    assert entry is not None
    assert entry.mail_from == ""


def test_empty_values_other_than_the_null_sender_are_refused(index: Index) -> None:
    with pytest.raises(ConfigError):
        index.search("to", "")
    with pytest.raises(ConfigError):
        index.search("message_id", "<>")


def test_newest_first_whatever_the_order_of_puts(index: Index) -> None:
    minted = [id_at(minutes) for minutes in range(0, 40 * 24 * 60, 24 * 60)]  # 40 days
    minted += [mint_id(now_ms=BASE_MS) for _ in range(5)]  # some in the same millisecond
    shuffled = minted[:]
    random.Random(7).shuffle(shuffled)
    for message_id in shuffled:
        index.put(make_document(message_id, rcpt_to=["list@example.com"]))
    assert found(index, "to", "list@example.com", limit=1000) == sorted(minted, reverse=True)


def test_since_is_inclusive_and_until_exclusive(index: Index) -> None:
    before, exactly_since, inside, exactly_until, after = (
        id_at(-1),
        lowest_id(at(0)),  # the smallest id minted at `since`: 80 zero random bits
        id_at(30),
        lowest_id(at(60)),  # the smallest id minted at `until`
        id_at(61),
    )
    for message_id in [before, exactly_since, inside, exactly_until, after]:
        index.put(make_document(message_id))
    search = "rcpt@example.com"
    assert found(index, "to", search, since=at(0), until=at(60)) == [inside, exactly_since]
    assert found(index, "to", search, since=at(0)) == [after, exactly_until, inside, exactly_since]
    assert found(index, "to", search, until=at(60)) == [inside, exactly_since, before]
    assert found(index, "to", search, since=at(60), until=at(60)) == []
    assert found(index, "to", search, since=at(61), until=at(0)) == []
    # Naive datetimes are UTC.
    naive = found(index, "to", search, since=at(0).replace(tzinfo=None), until=at(60))
    assert naive == [inside, exactly_since]


def test_pagination_has_no_duplicates_or_gaps(index: Index) -> None:
    minted = [id_at(minutes) for minutes in range(23)]
    for message_id in minted:
        index.put(make_document(message_id, rcpt_to=["busy@example.com"]))
    pages: list[list[str]] = []
    cursor: str | None = None
    read_ahead: Page | None = None
    while True:
        page = index.search("to", "busy@example.com", limit=5, cursor=cursor)
        if read_ahead is not None:
            assert page == read_ahead  # a cursor gives the same page every time
        pages.append(ids(page))
        if page.cursor is None:
            break
        read_ahead = index.search("to", "busy@example.com", limit=5, cursor=page.cursor)
        # Newer mail arriving between pages does not shift the pages still to come.
        index.put(make_document(id_at(100 + len(pages)), rcpt_to=["busy@example.com"]))
        cursor = page.cursor
    assert [len(page_ids) for page_ids in pages] == [5, 5, 5, 5, 3]
    flat = [message_id for page_ids in pages for message_id in page_ids]
    assert flat == sorted(minted, reverse=True)


def test_a_full_last_page_has_no_cursor(index: Index) -> None:
    minted = sorted(id_at(minutes) for minutes in range(10))
    for message_id in minted:
        index.put(make_document(message_id))
    first = index.search("to", "rcpt@example.com", limit=5)
    assert first.cursor is not None
    second = index.search("to", "rcpt@example.com", limit=5, cursor=first.cursor)
    assert ids(second) == minted[4::-1]
    assert second.cursor is None


def test_pagination_within_a_time_range(index: Index) -> None:
    minted = [id_at(minutes) for minutes in range(20)]
    for message_id in minted:
        index.put(make_document(message_id))
    seen: list[str] = []
    cursor = None
    while True:
        page = index.search(
            "to", "rcpt@example.com", since=at(5), until=at(15), limit=3, cursor=cursor
        )
        seen += ids(page)
        if (cursor := page.cursor) is None:
            break
    assert seen == minted[14:4:-1]


@pytest.mark.parametrize("limit", [0, -5, 1001])
def test_a_bad_limit_is_a_config_error(index: Index, limit: int) -> None:
    with pytest.raises(ConfigError, match="limit") as caught:
        index.search("to", "rcpt@example.com", limit=limit)
    assert "\n" not in str(caught.value)


def test_the_largest_limit_is_allowed(index: Index) -> None:
    index.put(make_document())
    assert len(index.search("to", "rcpt@example.com", limit=1000).entries) == 1


def test_a_bad_cursor_is_a_config_error(index: Index) -> None:
    index.put(make_document())
    index.put(make_document())
    page = index.search("to", "rcpt@example.com", limit=1)
    assert page.cursor is not None
    for cursor in ["garbage!", "eyJwayI6MX0", encode_cursor("TO#rcpt@example.com", "x")]:
        with pytest.raises(ConfigError, match="cursor"):
            index.search("to", "rcpt@example.com", limit=1, cursor=cursor)
    with pytest.raises(ConfigError, match="different search"):
        index.search("from", "sender@example.org", limit=1, cursor=page.cursor)


def test_put_is_idempotent(index: Index) -> None:
    document = make_document()
    index.put(document)
    index.put(document)
    index.put(dict(document))
    assert found(index, "to", "rcpt@example.com") == [document["id"]]
    assert found(index, "message_id", "abc.123@mail.example.org") == [document["id"]]


def test_a_newer_status_replaces_lookups_that_no_longer_apply(index: Index) -> None:
    message_id = mint_id()
    stored = make_document(message_id, status="stored", rcpt_to=["env@example.com"])
    index.put(stored)
    entry = index.get(message_id)
    assert entry is not None
    assert entry.status == "stored"
    assert found(index, "to", "header@example.com") == []

    parsed = make_document(message_id, rcpt_to=["env@example.com"], to=["header@example.com"])
    index.put(parsed)
    entry = index.get(message_id)
    assert entry is not None
    assert (entry.status, entry.to) == ("parsed", ("header@example.com",))
    assert found(index, "to", "header@example.com") == [message_id]
    assert found(index, "message_id", "abc.123@mail.example.org") == [message_id]

    # Re-parsed with other headers: the old header lookups go.
    reparsed = make_document(
        message_id, rcpt_to=["env@example.com"], to=["new@example.com"], header_id="<new@x>"
    )
    index.put(reparsed)
    assert found(index, "to", "header@example.com") == []
    assert found(index, "message_id", "abc.123@mail.example.org") == []
    assert found(index, "to", "new@example.com") == [message_id]

    quarantined = make_document(message_id, status="quarantined", rcpt_to=["env@example.com"])
    index.put(quarantined)
    entry = index.get(message_id)
    assert entry is not None
    assert entry.status == "quarantined"
    assert found(index, "to", "new@example.com") == []
    assert found(index, "message_id", "new@x") == []
    assert found(index, "from", "Author@example.org") == []
    assert found(index, "to", "env@example.com") == [message_id]  # still findable by envelope


def test_a_late_stored_document_does_not_undo_a_parse(index: Index) -> None:
    message_id = mint_id()
    index.put(make_document(message_id, to=["header@example.com"]))
    index.put(make_document(message_id, status="stored"))
    entry = index.get(message_id)
    assert entry is not None
    assert entry.status == "parsed"
    assert found(index, "to", "header@example.com") == [message_id]


def test_delete_removes_everything_and_is_idempotent(index: Index) -> None:
    document = make_document(cc=["cc@example.com"])
    keep = make_document()
    index.put(document)
    index.put(keep)
    index.delete(document["id"])
    assert index.get(document["id"]) is None
    assert found(index, "to", "rcpt@example.com") == [keep["id"]]
    assert found(index, "to", "cc@example.com") == []
    assert found(index, "from", "Author@example.org") == [keep["id"]]
    index.delete(document["id"])
    index.delete(mint_id())  # never indexed
    # And it can be indexed again afterwards.
    index.put(document)
    assert found(index, "to", "cc@example.com") == [document["id"]]


def test_holds(index: Index) -> None:
    document = make_document()
    index.put(document)
    message_id = document["id"]
    assert not index.is_held(message_id)
    index.hold(message_id)
    index.hold(message_id)
    assert index.is_held(message_id)
    entry = index.get(message_id)
    assert entry is not None
    assert entry.held
    assert list(index.held_ids()) == [message_id]
    # A search does not read holds.
    assert not index.search("to", "rcpt@example.com").entries[0].held
    index.release(message_id)
    index.release(message_id)
    assert not index.is_held(message_id)
    assert list(index.held_ids()) == []
    entry = index.get(message_id)
    assert entry is not None
    assert not entry.held


def test_a_hold_comes_before_indexing_and_outlives_delete(index: Index) -> None:
    early, later = id_at(1), id_at(2)
    index.hold(later)
    index.hold(early)  # neither is indexed yet
    assert index.is_held(early)
    assert index.get(early) is None
    assert list(index.held_ids()) == [early, later]
    index.put(make_document(early))
    entry = index.get(early)
    assert entry is not None
    assert entry.held
    index.delete(early)
    assert index.get(early) is None
    assert index.is_held(early)
    assert list(index.held_ids()) == [early, later]


def test_holds_need_an_inlet_id(index: Index) -> None:
    for action in (index.hold, index.release, index.delete):
        with pytest.raises(ConfigError, match="not an Inlet message id"):
            action("../etc/passwd")
    assert not index.is_held("nope")


def test_put_refuses_a_malformed_document(index: Index) -> None:
    document = make_document()
    del document["envelope"]
    with pytest.raises(inlet.errors.PermanentError):
        index.put(document)


# --- SQLite only: several processes and threads share one file


def test_sqlite_data_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "data" / "index.sqlite3"  # the directory is made if missing
    first = SqliteIndex(path)
    document = make_document()
    first.put(document)
    first.hold(document["id"])
    first.close()
    second = SqliteIndex(path)
    try:
        entry = second.get(document["id"])
        assert entry is not None
        assert entry.held
        assert found(second, "to", "rcpt@example.com") == [document["id"]]
    finally:
        second.close()


def test_sqlite_two_processes_see_each_others_writes(tmp_path: Path) -> None:
    path = tmp_path / "index.sqlite3"
    server, cli = SqliteIndex(path), SqliteIndex(path)
    try:
        documents = [make_document(rcpt_to=["shared@example.com"]) for _ in range(20)]
        errors: list[BaseException] = []

        def index_mail() -> None:  # the server's worker thread
            try:
                for document in documents:
                    server.put(document)
            except BaseException as exc:  # surfaced below
                errors.append(exc)

        worker = threading.Thread(target=index_mail)
        worker.start()
        # The CLI reads and holds while the server writes.
        while worker.is_alive():
            cli.search("to", "shared@example.com", limit=1000)
        worker.join()
        assert errors == []
        assert sorted(found(cli, "to", "shared@example.com", limit=1000)) == sorted(
            d["id"] for d in documents
        )
        cli.hold(documents[0]["id"])
        assert server.is_held(documents[0]["id"])
    finally:
        server.close()
        cli.close()


def test_sqlite_one_index_from_many_threads(tmp_path: Path) -> None:
    index = SqliteIndex(tmp_path / "index.sqlite3")
    try:
        documents = [make_document() for _ in range(40)]
        threads = [
            threading.Thread(target=lambda part=part: [index.put(d) for d in part])
            for part in (documents[0::4], documents[1::4], documents[2::4], documents[3::4])
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(found(index, "to", "rcpt@example.com", limit=1000)) == 40
    finally:
        index.close()


def test_sqlite_schema_version_and_foreign_files(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "index.sqlite3"
    SqliteIndex(path).close()
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
        db.commit()
    finally:
        db.close()
    with pytest.raises(ConfigError, match="newer than this Inlet"):
        SqliteIndex(path)
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"this is not a database, just text that is long enough" * 100)
    with pytest.raises(ConfigError, match="not an Inlet index"):
        SqliteIndex(junk)


# --- DynamoDB only: the item layout, one Query per search, interrupted and racing writes


def table_of(client: Any) -> str:
    name: str = client.list_tables()["TableNames"][0]
    return name


def all_keys(client: Any) -> set[tuple[str, str]]:
    items = client.scan(TableName=table_of(client), ConsistentRead=True)["Items"]
    return {(item["pk"]["S"], item["sk"]["S"]) for item in items}


def assert_no_orphans(client: Any) -> None:
    """Every lookup item is listed by the MSG item of its message (or a delete would miss it)."""
    items = client.scan(TableName=table_of(client), ConsistentRead=True)["Items"]
    listed = {
        (key["S"], item["id"]["S"] if "id" in item else item["pk"]["S"][4:])
        for item in items
        if item["sk"]["S"] == "MSG"
        for key in item["lookups"]["L"]
    }
    for item in items:
        pk, sk = item["pk"]["S"], item["sk"]["S"]
        if not pk.startswith("MSG#"):
            assert (pk, sk) in listed


def test_dynamodb_item_layout(dynamodb_client: Any) -> None:
    index = DynamoIndex(dynamodb_client, table_of(dynamodb_client))
    document = make_document(mail_from="", header_id="<abc@x.org>")
    message_id = document["id"]
    index.put(document)
    index.hold(message_id)
    assert all_keys(dynamodb_client) == {
        (f"MSG#{message_id}", "MSG"),
        (f"MSG#{message_id}", "HOLD"),
        ("TO#rcpt@example.com", message_id),
        ("FROM#", message_id),  # the null reverse-path
        ("FROM#Author@example.org", message_id),
        ("MSGID#abc@x.org", message_id),
    }
    message = dynamodb_client.get_item(
        TableName=table_of(dynamodb_client),
        Key={"pk": {"S": f"MSG#{message_id}"}, "sk": {"S": "MSG"}},
    )["Item"]
    assert "pending" not in message
    assert message["subject"] == {"S": "Hello"}
    lookup = dynamodb_client.get_item(
        TableName=table_of(dynamodb_client),
        Key={"pk": {"S": "TO#rcpt@example.com"}, "sk": {"S": message_id}},
    )["Item"]
    assert lookup["subject"] == {"S": "Hello"}  # a search needs no GetItem per result
    assert lookup["size"] == {"N": "1234"}


def test_dynamodb_search_is_exactly_one_query(dynamodb_client: Any) -> None:
    index = DynamoIndex(dynamodb_client, table_of(dynamodb_client))
    for minutes in range(12):
        index.put(make_document(id_at(minutes)))
    calls: list[str] = []

    def count(event_name: str, **_: Any) -> None:
        calls.append(event_name.rsplit(".", 1)[-1])

    dynamodb_client.meta.events.register("before-call.dynamodb", count)
    page = index.search("to", "rcpt@example.com", since=at(1), until=at(11), limit=4)
    assert calls == ["Query"]
    index.search("to", "rcpt@example.com", since=at(1), until=at(11), limit=4, cursor=page.cursor)
    assert calls == ["Query", "Query"]
    index.get(page.entries[0].id)
    assert calls == ["Query", "Query", "Query"]


def test_dynamodb_an_interrupted_put_is_finished_by_a_retry(dynamodb_client: Any) -> None:
    index = DynamoIndex(dynamodb_client, table_of(dynamodb_client))
    message_id = mint_id()
    index.put(make_document(message_id, status="stored", to=[]))
    document = make_document(message_id, to=["header@example.com"])
    # With an entry already there the intent is an UpdateItem: the first PutItem is the final
    # write of the MSG item, after the lookups.
    failure = Fault("InternalServerError", nth=1)
    dynamodb_client.meta.events.register("before-call.dynamodb.PutItem", failure)
    with pytest.raises(IndexUnavailable, match="InternalServerError"):
        index.put(document)
    dynamodb_client.meta.events.unregister("before-call.dynamodb.PutItem", failure)
    entry = index.get(message_id)
    assert entry is not None
    assert entry.status == "stored"  # the old entry stays readable until the new one is whole
    assert_no_orphans(dynamodb_client)
    index.put(document)
    entry = index.get(message_id)
    assert entry is not None
    assert entry.status == "parsed"
    assert found(index, "to", "header@example.com") == [message_id]
    assert_no_orphans(dynamodb_client)


def test_dynamodb_a_first_put_interrupted_is_not_yet_indexed(dynamodb_client: Any) -> None:
    index = DynamoIndex(dynamodb_client, table_of(dynamodb_client))
    document = make_document()
    failure = Fault("InternalServerError", nth=2)  # the final MSG write, after the pending one
    dynamodb_client.meta.events.register("before-call.dynamodb.PutItem", failure)
    with pytest.raises(IndexUnavailable):
        index.put(document)
    dynamodb_client.meta.events.unregister("before-call.dynamodb.PutItem", failure)
    assert index.get(document["id"]) is None  # so the local catch-up pass redoes it
    assert_no_orphans(dynamodb_client)
    index.delete(document["id"])  # a delete now still finds every lookup written so far
    assert all_keys(dynamodb_client) == set()


def test_dynamodb_an_interrupted_delete_is_finished_by_a_retry(dynamodb_client: Any) -> None:
    index = DynamoIndex(dynamodb_client, table_of(dynamodb_client))
    document = make_document(cc=["cc@example.com"])
    index.put(document)
    index.hold(document["id"])
    failure = Fault("ProvisionedThroughputExceededException", nth=1, status=400)
    dynamodb_client.meta.events.register("before-call.dynamodb.DeleteItem", failure)
    with pytest.raises(IndexUnavailable):
        index.delete(document["id"])  # the lookups went; the MSG item did not
    dynamodb_client.meta.events.unregister("before-call.dynamodb.DeleteItem", failure)
    assert all_keys(dynamodb_client) == {
        (f"MSG#{document['id']}", "MSG"),
        (f"MSG#{document['id']}", "HOLD"),
    }
    index.delete(document["id"])
    assert all_keys(dynamodb_client) == {(f"MSG#{document['id']}", "HOLD")}


def test_dynamodb_racing_puts_converge_on_the_last_to_finish(dynamodb_client: Any) -> None:
    index = DynamoIndex(dynamodb_client, table_of(dynamodb_client))
    message_id = mint_id()
    index.put(make_document(message_id, to=["old@example.com"]))
    first = make_document(message_id, to=["first@example.com"])
    second = make_document(message_id, to=["second@example.com"], header_id="<second@x>")
    interleaved = False

    def another_writer(**_: Any) -> None:
        # While `first` writes its lookups, another Lambda indexes `second` start to finish.
        nonlocal interleaved
        if not interleaved:
            interleaved = True
            index.put(second)

    dynamodb_client.meta.events.register("before-call.dynamodb.BatchWriteItem", another_writer)
    index.put(first)
    dynamodb_client.meta.events.unregister("before-call.dynamodb.BatchWriteItem", another_writer)
    assert interleaved
    entry = index.get(message_id)
    assert entry is not None
    assert entry.to == ("first@example.com",)
    assert found(index, "to", "first@example.com") == [message_id]
    assert found(index, "to", "second@example.com") == []
    assert found(index, "to", "old@example.com") == []
    assert found(index, "message_id", "second@x") == []
    assert_no_orphans(dynamodb_client)


def test_dynamodb_errors_are_translated(dynamodb_client: Any) -> None:
    missing = DynamoIndex(dynamodb_client, "no-such-table")
    with pytest.raises(ConfigError, match="no-such-table"):
        missing.get(mint_id())
    index = DynamoIndex(dynamodb_client, table_of(dynamodb_client))
    denied = Fault("AccessDeniedException", status=400)
    dynamodb_client.meta.events.register("before-call.dynamodb.Query", denied)
    with pytest.raises(IndexUnavailable, match="AccessDeniedException"):
        index.search("to", "rcpt@example.com")
    dynamodb_client.meta.events.unregister("before-call.dynamodb.Query", denied)

    def unreachable(**_: Any) -> None:
        raise EndpointConnectionError(endpoint_url="https://dynamodb.invalid")

    dynamodb_client.meta.events.register("before-call.dynamodb.GetItem", unreachable)
    with pytest.raises(IndexUnavailable, match="unreachable"):
        index.is_held(mint_id())


def test_make_dynamodb_client_honours_the_standard_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://localhost:4566")
    assert make_dynamodb_client().meta.endpoint_url == "http://localhost:4566"
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://localhost:8000")
    assert make_dynamodb_client().meta.endpoint_url == "http://localhost:8000"
