"""Events to an EventBridge bus (the EventSink of the AWS pipeline).

PutEvents takes up to 10 entries and 256 KB per request, and may accept some entries of a
request and refuse others (FailedEntryCount): only the refused ones are sent again, a few times
with a short backoff, and then `EventsUnavailable` is raised, so the index step fails, SQS
delivers its message again, and after the queue's last attempt it lands in the DLQ with its
alarm. An event is never dropped without that trail.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import BotoCoreError, ClientError

from inlet.errors import PermanentError
from inlet.events import (
    QUARANTINED,
    RECEIVED,
    SOURCE,
    Event,
    EventsUnavailable,
    detail_json,
)

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_events.type_defs import PutEventsRequestEntryTypeDef

log = logging.getLogger(__name__)

MAX_ENTRIES = 10
MAX_REQUEST_BYTES = 256 * 1024
RETRIES = 3
BACKOFF_SECONDS = 0.2


def make_events_client() -> EventBridgeClient:
    """An EventBridge client configured the standard boto3 way (AWS_ENDPOINT_URL, AWS_REGION)."""
    import boto3

    return boto3.client("events")


def entry_size(entry: PutEventsRequestEntryTypeDef) -> int:
    """An entry's size as EventBridge counts it against the 256 KB (Time counts 14 bytes)."""
    size = 14 if "Time" in entry else 0
    for field in ("Source", "DetailType", "Detail"):
        value = entry.get(field)
        if isinstance(value, str):
            size += len(value.encode())
    return size + sum(len(r.encode()) for r in entry.get("Resources", []))


class EventBridgeSink:
    def __init__(
        self,
        client: EventBridgeClient,
        bus_name: str,
        *,
        retries: int = RETRIES,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self.bus_name = bus_name
        self._retries = retries
        self._sleep = sleep

    def emit(self, events: Sequence[Event]) -> None:
        for batch in _batches([self._entry(event) for event in events]):
            self._put(batch)

    def _entry(self, event: Event) -> PutEventsRequestEntryTypeDef:
        return {
            "Source": event["source"],
            "DetailType": event["detail-type"],
            "Detail": detail_json(event["detail"]),
            "Time": datetime.fromisoformat(event["time"]),
            "EventBusName": self.bus_name,
        }

    def _put(self, entries: list[PutEventsRequestEntryTypeDef]) -> None:
        for attempt in range(self._retries + 1):
            if attempt:
                self._sleep(BACKOFF_SECONDS * 2 ** (attempt - 1))
            try:
                response = self._client.put_events(Entries=entries)
            except (ClientError, BotoCoreError) as exc:
                code = (
                    exc.response.get("Error", {}).get("Code", "")
                    if isinstance(exc, ClientError)
                    else type(exc).__name__
                )
                raise EventsUnavailable(f"EventBridge PutEvents failed: {code}") from exc
            if not response.get("FailedEntryCount"):
                return
            results = response["Entries"]
            codes = sorted({str(r.get("ErrorCode")) for r in results if r.get("ErrorCode")})
            # The results are in the order of the entries sent; retry those that carry an error.
            entries = [e for e, r in zip(entries, results, strict=True) if r.get("ErrorCode")]
            log.warning(
                "events not put, retrying",
                extra={"failed": len(entries), "codes": codes, "attempt": attempt + 1},
            )
        raise EventsUnavailable(
            f"EventBridge refused {len(entries)} events after {self._retries + 1} attempts: "
            + ", ".join(codes)
        )


def _batches(
    entries: list[PutEventsRequestEntryTypeDef],
) -> list[list[PutEventsRequestEntryTypeDef]]:
    """Up to 10 entries and 256 KB per request (a detail is at most 240 KB: inlet.events)."""
    batches: list[list[PutEventsRequestEntryTypeDef]] = []
    size = 0
    for entry in entries:
        n = entry_size(entry)
        if not batches or len(batches[-1]) == MAX_ENTRIES or size + n > MAX_REQUEST_BYTES:
            batches.append([])
            size = 0
        batches[-1].append(entry)
        size += n
    return batches


def event_of_delivered(delivered: Mapping[str, Any]) -> Event:
    """The Inlet event in the shape `inlet up` sends, from the event as EventBridge delivers it
    to a target (`{version, id, detail-type, source, account, time, region, resources,
    detail}`): `id` is `detail.event_id` again (EventBridge assigns its own ids, different on
    every put), `time` is EventBridge's (whole seconds). PermanentError for anything else."""
    detail = delivered.get("detail")
    detail_type = delivered.get("detail-type")
    if (
        delivered.get("source") != SOURCE
        or detail_type not in (RECEIVED, QUARANTINED)
        or not isinstance(detail, dict)
        or not isinstance(detail.get("event_id"), str)
        or not isinstance(delivered.get("time"), str)
    ):
        raise PermanentError(
            f"not an Inlet event: source {str(delivered.get('source'))[:40]!r}, "
            f"detail-type {str(detail_type)[:40]!r}"
        )
    return cast(
        Event,
        {
            "id": detail["event_id"],
            "source": SOURCE,
            "detail-type": detail_type,
            "time": delivered["time"],
            "detail": detail,
        },
    )
