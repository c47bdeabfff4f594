"""Event sinks for tests of the steps that emit (the sinks themselves are tested apart)."""

from collections.abc import Callable, Sequence

from inlet.events import Event, EventsUnavailable


class RecordingSink:
    """Keeps every batch it is given; `check` (if any) runs at each emit, e.g. to see what the
    index holds at that moment."""

    def __init__(self, check: Callable[[Sequence[Event]], None] | None = None) -> None:
        self.batches: list[list[Event]] = []
        self._check = check

    @property
    def events(self) -> list[Event]:
        return [event for batch in self.batches for event in batch]

    def emit(self, events: Sequence[Event]) -> None:
        if self._check is not None:
            self._check(events)
        self.batches.append(list(events))


class FailingSink:
    """A sink whose service is down."""

    def __init__(self) -> None:
        self.tries = 0

    def emit(self, events: Sequence[Event]) -> None:
        self.tries += 1
        raise EventsUnavailable("the bus did not take 1 entry: ThrottlingException")
