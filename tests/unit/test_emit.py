"""Emitting: the index step hands each indexed or quarantined document's event to the sink,
after the index has it; a sink that fails fails the step (it is retried, nothing dropped);
`inlet replay` builds the same events again from the documents; holds are recorded in the
message store as well as the index."""

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from inlet.blobstore import BlobStore
from inlet.blobstore.filesystem import FilesystemBlobStore
from inlet.cli.local_runner import LocalRunner
from inlet.events import Event, EventsUnavailable, event_of
from inlet.index.sqlite import SqliteIndex
from inlet.message_store import Hold, MessageStore
from inlet.pipeline import index_and_emit, no_verdicts, parse_stored
from inlet.replay import replay
from inlet.retention_policy import RetentionPolicy
from tests.builders import make_document
from tests.cli import run_cli
from tests.sinks import FailingSink, RecordingSink
from tests.stored import store_message

pytestmark = pytest.mark.unit

MESSAGE = b"From: a@example.org\r\nTo: b@example.com\r\nSubject: hi\r\n\r\nbody\r\n"


@pytest.fixture
def index(tmp_path: Path) -> Any:
    index = SqliteIndex(tmp_path / "index.sqlite3")
    yield index
    index.close()


def test_the_event_goes_out_once_the_index_has_the_message(index: SqliteIndex) -> None:
    document: Any = make_document()

    def indexed_already(events: Any) -> None:
        assert index.get(document["id"]) is not None

    sink = RecordingSink(check=indexed_already)
    index_and_emit(index, sink, document)
    assert sink.events == [event_of(document)]


def test_a_sink_that_fails_fails_the_step_and_a_retry_sends_it(index: SqliteIndex) -> None:
    document: Any = make_document(status="quarantined")
    with pytest.raises(EventsUnavailable):
        index_and_emit(index, FailingSink(), document)
    assert index.get(document["id"]) is not None  # indexing again is harmless
    sink = RecordingSink()
    index_and_emit(index, sink, document)
    assert [e["detail-type"] for e in sink.events] == ["Message Quarantined"]


def test_a_message_only_stored_is_indexed_without_an_event(index: SqliteIndex) -> None:
    sink = RecordingSink()
    index_and_emit(index, sink, make_document(status="stored"))  # type: ignore[arg-type]
    assert sink.batches == []


def test_the_local_runner_emits_as_it_processes_and_catches_up(
    fs_store: BlobStore, index: SqliteIndex
) -> None:
    messages = MessageStore(fs_store)
    sink = RecordingSink()
    runner = LocalRunner(
        messages, index, RetentionPolicy(365, {}), verdicts=no_verdicts, events=sink
    )
    first = store_message(messages, MESSAGE)
    runner.process(first.id)
    # Parsed, but stopped before it was indexed: the catch-up indexes and emits it.
    second = store_message(messages, MESSAGE)
    parse_stored(messages, second.id, now=make_now(), verdicts=no_verdicts)
    assert runner.catch_up() == 1
    runner.close()
    assert [e["detail"]["event_id"] for e in sink.events] == [
        f"{first.id}:received",
        f"{second.id}:received",
    ]


def make_now() -> datetime:
    return datetime.now(UTC)


def test_replay_sends_the_same_events_in_batches_of_ten(fs_store: BlobStore) -> None:
    messages = MessageStore(fs_store)
    documents = []
    for _ in range(23):
        envelope = store_message(messages, MESSAGE)
        documents.append(parse_stored(messages, envelope.id, now=make_now(), verdicts=no_verdicts))
    unparsed = store_message(messages, MESSAGE)
    sink = RecordingSink()
    ids = [d["id"] for d in documents] + [unparsed.id]

    report = replay(messages, sink, ids)

    assert [len(batch) for batch in sink.batches] == [10, 10, 3]
    expected: list[Event | None] = [event_of(d) for d in documents]
    assert sink.events == expected
    assert (report.emitted, report.not_parsed, report.failed) == (23, 1, 0)
    assert report.not_parsed_ids == [unparsed.id]


def test_replay_reports_what_the_sink_refused(fs_store: BlobStore) -> None:
    messages = MessageStore(fs_store)
    envelope = store_message(messages, MESSAGE)
    parse_stored(messages, envelope.id, now=make_now(), verdicts=no_verdicts)
    report = replay(messages, FailingSink(), [envelope.id])
    assert (report.emitted, report.failed) == (0, 1)
    assert report.failed_ids[0].startswith(f"{envelope.id}: ")


def test_a_dry_run_replay_sends_nothing(fs_store: BlobStore) -> None:
    messages = MessageStore(fs_store)
    envelope = store_message(messages, MESSAGE)
    parse_stored(messages, envelope.id, now=make_now(), verdicts=no_verdicts)
    sink = RecordingSink()
    assert replay(messages, sink, [envelope.id], dry_run=True).emitted == 1
    assert sink.batches == []


def test_holds_are_recorded_in_the_message_store(store: BlobStore) -> None:
    messages = MessageStore(store)
    envelope = store_message(messages, MESSAGE)
    hold = Hold(envelope.id, "2026-12-02T10:00:00Z", "legal", "case 42")
    messages.save_hold(hold)
    assert messages.load_hold(envelope.id) == hold
    assert list(messages.held_ids()) == [envelope.id]
    messages.remove_hold(envelope.id)
    messages.remove_hold(envelope.id)  # lifting none is no error
    assert messages.load_hold(envelope.id) is None
    assert list(messages.held_ids()) == []


def test_inlet_hold_records_who_when_and_why_and_release_removes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("INLET_BUCKET", raising=False)
    messages = MessageStore(FilesystemBlobStore(tmp_path))
    envelope = store_message(messages, MESSAGE)
    data_dir = str(tmp_path)

    held = run_cli(
        "hold", envelope.id, "--reason", "case 42", "--by", "counsel", "--data-dir", data_dir
    )
    assert held.returncode == 0, held.stderr
    record = messages.load_hold(envelope.id)
    assert record is not None
    assert (record.held_by, record.reason) == ("counsel", "case 42")
    assert record.held_at.endswith("Z")

    released = run_cli("release", envelope.id, "--data-dir", data_dir)
    assert released.returncode == 0, released.stderr
    assert messages.load_hold(envelope.id) is None


def test_inlet_replay_with_nowhere_to_send_is_a_usage_error(tmp_path: Path) -> None:
    ran = run_cli("replay", "--id", "01JEXAMPLE0000000000000000", "--data-dir", str(tmp_path))
    assert ran.returncode == 2
    assert "nowhere to send events" in ran.stderr
