"""`inlet reprocess` through the CLI on a local data dir: the summary and the JSON report, the
range, --dry-run, --recheck-authentication, exit codes. The verdicts the CLI computes ask the
test DNS server (INLET_DNS_RESOLVER), whose SPF record for the sender's domain now says -all."""

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from inlet import keys
from inlet.blobstore.filesystem import FilesystemBlobStore
from inlet.cli.wiring import INDEX_FILE
from inlet.envelope import Envelope
from inlet.index.sqlite import SqliteIndex
from inlet.message_store import MessageStore
from inlet.parsing import PARSER_VERSION
from tests.cli import run_cli
from tests.dns_server import DnsServer
from tests.stored import store_message
from tests.unit.test_reprocess import (
    MESSAGE,
    verdicts_at_receipt,
    write_older_parse,
)

pytestmark = pytest.mark.dns

# Ten days ago at 09:00: a --since with no --until reaches up to now, so the data is past.
DAY = datetime.now(UTC).replace(hour=9, minute=0, second=0, microsecond=0) - timedelta(days=10)


def day(n: int) -> str:
    """The date n days after DAY's, as --since/--until take it."""
    return (DAY + timedelta(days=n)).date().isoformat()


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dns: DnsServer) -> Path:
    monkeypatch.setenv("INLET_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("INLET_DNS_RESOLVER", dns.address)
    monkeypatch.setenv("INLET_HOSTNAME", "relay.test")
    dns.add("example.org", "TXT", "v=spf1 -all")  # today's DNS: the sender is not permitted
    return tmp_path / "data"


@pytest.fixture
def local(data: Path) -> Iterator[tuple[MessageStore, SqliteIndex]]:
    index = SqliteIndex(data / INDEX_FILE)
    yield MessageStore(FilesystemBlobStore(data)), index
    index.close()


def older_messages(messages: MessageStore, index: SqliteIndex, count: int) -> list[Envelope]:
    """`count` messages a day apart from DAY on, each with parser 0's document."""
    envelopes = []
    for n in range(count):
        envelope = store_message(messages, MESSAGE, at=DAY + timedelta(days=n))
        write_older_parse(messages, index, envelope)
        envelopes.append(envelope)
    return envelopes


def versions(messages: MessageStore, envelopes: list[Envelope]) -> list[str]:
    return [_document(messages, e.id)["parser_version"] for e in envelopes]


def _document(messages: MessageStore, message_id: str) -> dict[str, Any]:
    document: dict[str, Any] | None = messages.load_document(message_id)  # type: ignore[assignment]
    assert document is not None
    return document


def test_a_range_is_reprocessed_and_summarised(local: tuple[MessageStore, SqliteIndex]) -> None:
    messages, index = local
    envelopes = older_messages(messages, index, 4)

    ran = run_cli("reprocess", "--since", day(1), "--until", day(3))

    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == (
        "reprocessed 2 messages: 2 parsed, 0 quarantined, 0 skipped (raw gone), 0 failed; "
        f"parser {PARSER_VERSION}; authentication kept for 2, computed for 0; "
        "2 stale attachments removed\n"
    )
    assert versions(messages, envelopes) == ["0", PARSER_VERSION, PARSER_VERSION, "0"]
    shown = run_cli("show", envelopes[1].id, "--json")
    assert json.loads(shown.stdout)["attachments"][0]["key"] == keys.attachment_key(
        envelopes[1].id, 0, "q2.pdf"
    )

    again = run_cli("reprocess", "--since", day(1) + "T00:00:00Z", "--until", day(3), "--json")

    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == {
        "parser_version": PARSER_VERSION,
        "examined": 2,
        "parsed": 2,
        "quarantined": 0,
        "skipped": 0,
        "failed": 0,
        "authentication_kept": 2,
        "authentication_computed": 0,
        "attachments_removed": 0,
        "failed_ids": [],
    }


def test_recheck_authentication_recomputes_the_verdicts(
    local: tuple[MessageStore, SqliteIndex],
) -> None:
    messages, index = local
    [envelope] = older_messages(messages, index, 1)
    raw = messages.load_raw(envelope.id)

    assert run_cli("reprocess").returncode == 0
    assert _document(messages, envelope.id)["authentication"] == verdicts_at_receipt(
        [raw], envelope
    )
    ran = run_cli("reprocess", "--recheck-authentication", "--json")

    assert json.loads(ran.stdout)["authentication_computed"] == 1
    now = _document(messages, envelope.id)["authentication"]
    assert now["spf"] == {"result": "fail", "domain": "example.org", "helo_result": "none"}
    assert now["header"].startswith("relay.test; spf=fail smtp.mailfrom=sender@example.org;")


def test_dry_run_lists_the_range_and_changes_nothing(
    local: tuple[MessageStore, SqliteIndex],
) -> None:
    messages, index = local
    envelopes = older_messages(messages, index, 3)
    before = {k: messages.blobs.get(k).data for k in messages.blobs.list("")}

    text = run_cli("reprocess", "--dry-run", "--since", day(1))
    lines = run_cli("reprocess", "--dry-run", "--until", day(2), "--json")

    assert text.returncode == 0, text.stderr
    assert text.stdout.splitlines() == [
        f"would reprocess {envelopes[1].id}",
        f"would reprocess {envelopes[2].id}",
        f"would reprocess 2 messages with parser {PARSER_VERSION}",
    ]
    assert [json.loads(line) for line in lines.stdout.splitlines()] == [
        {"id": e.id, "received_at": e.received_at} for e in envelopes[:2]
    ]
    assert {k: messages.blobs.get(k).data for k in messages.blobs.list("")} == before


def test_a_failed_message_is_named_and_the_rest_done(
    local: tuple[MessageStore, SqliteIndex],
) -> None:
    messages, index = local
    envelopes = older_messages(messages, index, 3)
    # Its document's path taken by a directory: the store cannot write (nor read) it.
    blocked = messages.blobs.root / keys.parsed_key(envelopes[0].id)  # type: ignore[attr-defined]
    blocked.unlink()
    blocked.mkdir()

    ran = run_cli("reprocess", "--json")

    assert ran.returncode == 1
    report = json.loads(ran.stdout)
    assert (report["parsed"], report["failed"], report["failed_ids"]) == (2, 1, [envelopes[0].id])
    assert f"inlet: {envelopes[0].id} failed: " in ran.stderr
    assert versions(messages, envelopes[1:]) == [PARSER_VERSION, PARSER_VERSION]


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--since", "yesterday"], "--since: expected an ISO 8601 date or time"),
        (["--since", "2026-04-02", "--until", "2026-04-02T00:00"], "must be after --since"),
    ],
)
def test_bad_usage_is_exit_2(data: Path, args: list[str], complaint: str) -> None:
    ran = run_cli("reprocess", *args)
    assert ran.returncode == 2
    assert complaint in ran.stderr
    assert ran.stdout == ""
