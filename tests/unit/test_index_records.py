"""What the index keeps of a document: the entry, the lookups and their normalisation."""

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from inlet.errors import ConfigError, PermanentError
from inlet.ids import lowest_id, mint_id
from inlet.index.records import (
    MAX_ENTRY_ADDRESSES,
    MAX_VALUE_BYTES,
    Entry,
    check_limit,
    decode_cursor,
    encode_cursor,
    entry_from_document,
    id_bounds,
    lookup_key,
    lookups_of,
    normalise_address,
    normalise_message_id,
    replaces,
    search_value,
)
from tests.builders import make_document

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("Alice@Example.COM", "Alice@example.com"),
        ("  <Bob@Mail.Example.org>  ", "Bob@mail.example.org"),
        ("< spaced@x.org >", "spaced@x.org"),
        ('"odd@local"@Example.NET', '"odd@local"@example.net'),
        ("postmaster", "postmaster"),
        ("<>", ""),
        ("", ""),
        ("josé@BÜCHER.example", "josé@bücher.example"),
    ],
)
def test_addresses_lower_case_only_the_domain(given: str, expected: str) -> None:
    assert normalise_address(given) == expected


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("<abc.123@Mail.Example.org>", "abc.123@Mail.Example.org"),
        ("abc.123@Mail.Example.org", "abc.123@Mail.Example.org"),
        ("  <x@y>\t", "x@y"),
        ("<>", ""),
    ],
)
def test_message_ids_lose_their_brackets_and_keep_their_case(given: str, expected: str) -> None:
    assert normalise_message_id(given) == expected


def test_lookups_of_a_parsed_document() -> None:
    document = make_document(
        mail_from="Sender@Example.ORG",
        rcpt_to=["rcpt@EXAMPLE.com", "other@example.com"],
        header_from=["<author@example.org>"],
        to=["rcpt@example.com"],  # the same as an envelope recipient once normalised
        cc=["cc@Example.net", "cc@example.NET"],
        header_id=" <abc.123@mail.example.org> ",
    )
    assert lookups_of(document) == {
        ("from", "Sender@example.org"),
        ("from", "author@example.org"),
        ("to", "rcpt@example.com"),
        ("to", "other@example.com"),
        ("to", "cc@example.net"),
        ("message_id", "abc.123@mail.example.org"),
    }


@pytest.mark.parametrize("null_sender", ["", "<>", " <> "])
def test_the_null_reverse_path_is_a_lookup_of_its_own(null_sender: str) -> None:
    lookups = lookups_of(make_document(mail_from=null_sender, header_from=[]))
    assert ("from", "") in lookups
    assert entry_from_document(make_document(mail_from=null_sender)).mail_from == ""


@pytest.mark.parametrize("status", ["stored", "quarantined"])
def test_unparsed_documents_are_found_by_their_envelope_only(status: str) -> None:
    document = make_document(status=status, rcpt_to=["a@example.com", "b@example.com"])
    assert lookups_of(document) == {
        ("from", "sender@example.org"),
        ("to", "a@example.com"),
        ("to", "b@example.com"),
    }
    entry = entry_from_document(document)
    assert entry.status == status
    assert entry.from_ == ()
    assert entry.to == ()
    assert entry.subject is None
    assert entry.message_id is None
    assert entry.rcpt_to == ("a@example.com", "b@example.com")


def test_header_entries_without_an_address_are_skipped() -> None:
    document = make_document()
    document["to"] = [
        {"name": "undisclosed-recipients", "address": None},
        {"name": "x", "address": "  "},
        {"name": "Rcpt", "address": "rcpt@example.com"},
    ]
    assert entry_from_document(document).to == ("rcpt@example.com",)
    assert ("to", "") not in lookups_of(document)


def test_the_entry_of_a_parsed_document() -> None:
    document = make_document(
        to=["a@example.com", "a@example.com"], cc=["c@example.com"], size=99, subject="Hi"
    )
    entry = entry_from_document(document)
    assert entry == Entry(
        id=document["id"],
        received_at=document["envelope"]["received_at"],
        status="parsed",
        mail_from="sender@example.org",
        rcpt_to=("rcpt@example.com",),
        from_=("Author@Example.org",),
        to=("a@example.com", "c@example.com"),
        subject="Hi",
        message_id="<abc.123@mail.example.org>",
        size=99,
    )
    as_dict = entry.to_dict()
    assert as_dict["from"] == ["Author@Example.org"]
    assert "from_" not in as_dict
    assert as_dict["held"] is False
    assert Entry.from_dict(as_dict) == entry
    assert Entry.from_dict(as_dict, held=True).held


def test_pathological_values_are_bounded() -> None:
    huge = "x" * MAX_VALUE_BYTES + "@example.com"
    many = [f"user{n}@example.com" for n in range(MAX_ENTRY_ADDRESSES + 50)]
    document = make_document(rcpt_to=[huge, "ok@example.com"], to=many, subject="s" * 100_000)
    lookups = lookups_of(document)
    assert ("to", huge) not in lookups
    assert ("to", "ok@example.com") in lookups
    assert ("to", many[-1]) in lookups  # searchable, though not listed in the entry
    entry = entry_from_document(document)
    assert len(entry.to) == MAX_ENTRY_ADDRESSES
    assert entry.subject is not None
    assert len(entry.subject) < 100_000


@pytest.mark.parametrize(
    "breakage",
    [
        {"id": "not-an-id"},
        {"status": "weird"},
        {"envelope": None},
        {"envelope": {"received_at": "2026-01-01T00:00:00Z", "rcpt_to": "a@b", "size": 1}},
        {"envelope": {"rcpt_to": [], "size": 1}},
        {"to": "a@example.com"},
    ],
)
def test_malformed_documents_are_a_permanent_error(breakage: dict[str, Any]) -> None:
    document = {**make_document(), **breakage}
    with pytest.raises(PermanentError, match="cannot index"):
        entry_from_document(document)


def test_a_stored_document_never_replaces_a_processed_one() -> None:
    assert replaces("parsed", "stored")
    assert replaces("quarantined", "stored")
    assert replaces("quarantined", "parsed")
    assert replaces("parsed", "quarantined")
    assert replaces("stored", "stored")
    assert replaces("parsed", "parsed")
    assert not replaces("stored", "parsed")
    assert not replaces("stored", "quarantined")


def test_search_values() -> None:
    assert search_value("to", " <Rcpt@Example.COM> ") == "Rcpt@example.com"
    assert search_value("from", "<>") == ""
    assert search_value("message_id", "<a@b>") == "a@b"
    for field in ("to", "message_id"):
        with pytest.raises(ConfigError, match="empty"):
            search_value(field, " <> ")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="cannot search by"):
        search_value("subject", "x")  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [0, -1, 1001, True, 2.5])
def test_limits_outside_one_to_a_thousand_are_refused(bad: Any) -> None:
    with pytest.raises(ConfigError, match="limit") as caught:
        check_limit(bad)
    assert "\n" not in str(caught.value)


def test_limits_inside() -> None:
    assert check_limit(1) == 1
    assert check_limit(1000) == 1000


def test_cursors_round_trip_and_are_bound_to_their_search() -> None:
    key = lookup_key("to", "rcpt@example.com")
    last = mint_id()
    cursor = encode_cursor(key, last)
    assert cursor.isascii()
    assert "=" not in cursor
    assert "/" not in cursor
    assert "+" not in cursor
    assert decode_cursor(cursor, key) == last
    with pytest.raises(ConfigError, match="different search"):
        decode_cursor(cursor, lookup_key("from", "rcpt@example.com"))


@pytest.mark.parametrize(
    "cursor",
    ["", "!!!", "bm90IGpzb24", "W10", encode_cursor("TO#a@b", "not-an-id"), "\u00e9t\u00e9"],
)
def test_malformed_cursors_are_a_config_error(cursor: str) -> None:
    with pytest.raises(ConfigError, match="cursor") as caught:
        decode_cursor(cursor, "TO#a@b")
    assert "\n" not in str(caught.value)


def test_id_bounds_are_utc_and_half_open() -> None:
    since = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    until = since + timedelta(hours=1)
    assert id_bounds(since, until) == (lowest_id(since), lowest_id(until))
    # A naive datetime means UTC, whatever the host's zone.
    assert id_bounds(since.replace(tzinfo=None), None) == (lowest_id(since), None)
    plus_two = timezone(timedelta(hours=2))
    assert id_bounds(since.astimezone(plus_two), None)[0] == lowest_id(since)
    assert id_bounds(None, None) == ("0" * 26, None)
