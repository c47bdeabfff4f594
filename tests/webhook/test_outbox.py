"""The outbox's files: durable records, replaced on re-emit, moved when done."""

import json
from pathlib import Path

import pytest

from inlet.events import EventsUnavailable, event_of
from inlet.webhook.outbox import DELIVERED, FAILED, Outbox, describe, record_name
from tests.builders import make_document

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_an_emitted_event_is_a_pending_file_named_for_its_event_id(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path, clock=Clock())
    event = event_of(make_document())
    assert event is not None
    outbox.emit([event])
    name = record_name(event["detail"]["event_id"])
    assert name == f"{event['detail']['id']}.received.json"
    record = json.loads((tmp_path / "pending" / name).read_bytes())
    assert record["event"] == event
    assert record["attempts"] == 0
    assert record["next_attempt_at"] == record["queued_at"] == 1_000_000.0
    assert outbox.pending_count() == 1
    assert outbox.added.is_set()
    assert [p.name for p in (tmp_path / "pending").iterdir()] == [name]  # no temporary left


def test_emitting_again_restarts_the_schedule_and_takes_it_out_of_failed(tmp_path: Path) -> None:
    clock = Clock()
    outbox = Outbox(tmp_path, clock=clock)
    event = event_of(make_document())
    assert event is not None
    outbox.emit([event])
    [entry] = outbox.pending()
    entry.record.update(attempts=31, first_attempt_at=1.0, last_error="HTTP 500", done_at=2.0)
    outbox.finish(entry.name, entry.record, FAILED)
    assert outbox.pending_count() == 0
    assert [e.state for e in outbox.status_of(event["detail"]["id"])] == ["failed"]

    clock.now += 500
    outbox.emit([event])
    [fresh] = outbox.status_of(event["detail"]["id"])
    assert fresh.state == "pending"
    assert fresh.record["attempts"] == 0
    assert fresh.record["next_attempt_at"] == clock.now


def test_delivered_records_are_kept_a_week_then_pruned(tmp_path: Path) -> None:
    clock = Clock()
    outbox = Outbox(tmp_path, clock=clock)
    events = [event_of(make_document()) for _ in range(3)]
    outbox.emit([e for e in events if e is not None])
    for n, entry in enumerate(sorted(outbox.pending(), key=lambda e: e.name)):
        entry.record.update(attempts=1, done_at=clock.now - n * 4 * 24 * 3600)
        outbox.finish(entry.name, entry.record, DELIVERED)
    assert outbox.prune_delivered() == 1  # the one 8 days old
    assert len(list((tmp_path / "delivered").iterdir())) == 2


def test_status_of_describes_each_state_for_inlet_show(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path, clock=Clock(0.0))
    document = make_document(status="quarantined", reason="unparseable")
    event = event_of(document)
    assert event is not None
    assert event["detail-type"] == "Message Quarantined"
    outbox.emit([event])
    [entry] = outbox.status_of(document["id"])
    assert describe(entry) == {
        "event_id": f"{document['id']}:quarantined",
        "state": "pending",
        "attempts": 0,
        "queued_at": "1970-01-01T00:00:00Z",
        "next_attempt_at": "1970-01-01T00:00:00Z",
        "done_at": None,
        "last_error": None,
    }
    assert outbox.status_of("01JB0000000000000000000000") == []


def test_an_outbox_that_cannot_be_written_is_unavailable_not_silent(tmp_path: Path) -> None:
    (tmp_path / "outbox").write_text("a file where the directory should be")
    outbox = Outbox(tmp_path / "outbox")
    event = event_of(make_document())
    assert event is not None
    with pytest.raises(EventsUnavailable, match="cannot write the webhook outbox"):
        outbox.emit([event])


def test_temporary_and_foreign_files_are_not_records(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path)
    (tmp_path / "pending").mkdir()
    (tmp_path / "pending" / ".x.partial").write_text("{")
    (tmp_path / "pending" / "README").write_text("hi")
    assert list(outbox.pending()) == []
    assert outbox.pending_count() == 0
