"""Events for downstream consumers: what Inlet tells applications once a message is indexed
(`Message Received`) or quarantined (`Message Quarantined`), and the port they leave by.

`event_of` is pure: the same document gives the same event on every delivery and replay
(`time` is when the document was made, `detail.event_id` is `<id>:received` or
`<id>:quarantined`), so consumers drop duplicates by `event_id`. docs/event.schema.json is the
contract; these TypedDicts are its Python form (tests/unit/test_events.py holds the two
together). No bodies: EventBridge caps an event at 256 KB, and consumers read the document or
the raw object by key.

Adapters of `EventSink`: the local webhook outbox (inlet.webhook.outbox) and EventBridge
(inlet.eventbridge); neither is imported here.
"""

import json
from collections.abc import Sequence
from typing import Literal, Protocol, TypedDict

from inlet import keys
from inlet.authentication.results import Authentication
from inlet.document import Address, Document
from inlet.envelope import TlsJson
from inlet.errors import TransientError

SOURCE: Literal["inlet"] = "inlet"
VERSION: Literal[1] = 1
DetailType = Literal["Message Received", "Message Quarantined"]
RECEIVED: Literal["Message Received"] = "Message Received"
QUARANTINED: Literal["Message Quarantined"] = "Message Quarantined"

# EventBridge refuses an entry over 256 KB (detail, detail-type, source and resources
# counted); the detail is kept under this, lists shortened first (`truncated` then says so).
MAX_DETAIL_BYTES = 240 * 1024


class EventsUnavailable(TransientError):
    """The sink did not take every event; the caller retries (the index step is redelivered)."""


class EventEnvelope(TypedDict):
    mail_from: str
    rcpt_to: list[str]
    client_ip: str | None
    tls: TlsJson | None
    auth_user: str | None


class EventAttachment(TypedDict):
    filename: str
    content_type: str
    size: int
    key: str


class EventKeys(TypedDict):
    raw: str
    parsed: str


Detail = TypedDict(
    "Detail",
    {
        "version": int,
        "event_id": str,
        "id": str,
        "status": Literal["parsed", "quarantined"],
        "received_at": str,
        "envelope": EventEnvelope,
        "message_id": str | None,
        "date": str | None,
        "subject": str | None,
        "from": list[Address],
        "to": list[Address],
        "cc": list[Address],
        "size": int,
        "attachments": list[EventAttachment],
        "authentication": Authentication | None,
        "keys": EventKeys,
        # True only when lists were shortened to fit an event (read the document for all).
        "truncated": bool,
    },
)

Event = TypedDict(
    "Event",
    {"id": str, "source": str, "detail-type": DetailType, "time": str, "detail": Detail},
)


class EventSink(Protocol):
    def emit(self, events: Sequence[Event]) -> None:
        """Hand the events over durably (written to the outbox, accepted by the bus), in
        order. EventsUnavailable if any was not taken; emitting again is safe (consumers
        drop duplicates by event_id)."""


class NoEvents:
    """Nobody listens (`inlet up` without a webhook, a deployment without a bus)."""

    def emit(self, events: Sequence[Event]) -> None:
        return None


def event_id(message_id: str, status: Literal["parsed", "quarantined"]) -> str:
    return f"{message_id}:{'received' if status == 'parsed' else 'quarantined'}"


def event_of(document: Document) -> Event | None:
    """The event of an indexed or quarantined document; None for a message only stored (it
    gets its event once parsed)."""
    status = document["status"]
    if status == "stored":
        return None
    message_id = document["id"]
    envelope = document["envelope"]
    detail: Detail = {
        "version": VERSION,
        "event_id": event_id(message_id, status),
        "id": message_id,
        "status": status,
        "received_at": envelope["received_at"],
        "envelope": {
            "mail_from": envelope["mail_from"],
            "rcpt_to": list(envelope["rcpt_to"]),
            "client_ip": envelope["client_ip"],
            "tls": envelope["tls"],
            "auth_user": envelope["auth_user"],
        },
        "message_id": document["message_id"],
        "date": document["date"],
        "subject": document["subject"],
        "from": list(document["from"]),
        "to": list(document["to"]),
        "cc": list(document["cc"]),
        "size": envelope["size"],
        "attachments": [
            {
                "filename": item["filename"],
                "content_type": item["content_type"],
                "size": item["size"],
                "key": item["key"],
            }
            for item in document["attachments"]
        ],
        "authentication": document["authentication"],
        "keys": {"raw": keys.raw_key(message_id), "parsed": keys.parsed_key(message_id)},
        "truncated": False,
    }
    _fit(detail)
    detail_type: DetailType = RECEIVED if status == "parsed" else QUARANTINED
    return {
        "id": detail["event_id"],
        "source": SOURCE,
        "detail-type": detail_type,
        "time": _event_time(document),
        "detail": detail,
    }


def to_json(event: Event) -> str:
    """The event as sent: compact JSON, UTF-8 kept (the webhook body; EventBridge's Detail)."""
    return json.dumps(event, ensure_ascii=False, separators=(",", ":"))


def detail_json(detail: Detail) -> str:
    """The detail as sent: EventBridge's `Detail`, and what its size limit counts."""
    return json.dumps(detail, ensure_ascii=False, separators=(",", ":"))


def detail_size(detail: Detail) -> int:
    return len(detail_json(detail).encode())


def _fit(detail: Detail) -> None:
    """Shorten the lists (attachments, then cc, to, rcpt_to, from) until the detail fits an
    event; the authentication header last. Consumers read the document for the rest."""
    if detail_size(detail) <= MAX_DETAIL_BYTES:
        return
    detail["truncated"] = True
    lists: list[list[object]] = [
        detail["attachments"],  # type: ignore[list-item]
        detail["cc"],  # type: ignore[list-item]
        detail["to"],  # type: ignore[list-item]
        detail["envelope"]["rcpt_to"],  # type: ignore[list-item]
        detail["from"],  # type: ignore[list-item]
    ]
    for items in lists:
        while items and detail_size(detail) > MAX_DETAIL_BYTES:
            del items[len(items) // 2 if len(items) > 8 else -1 :]
    if detail_size(detail) > MAX_DETAIL_BYTES:
        # Only long single values remain (a subject of 200 KB): keep their start.
        detail["subject"] = (detail["subject"] or "")[:1000] or None
        detail["authentication"] = None


def _event_time(document: Document) -> str:
    """When the event happened: the document's making (stable across deliveries), else the
    message's receipt."""
    return document["parsed_at"] or document["envelope"]["received_at"]
