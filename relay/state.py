"""What changes while one relay process runs, as every session and the drain see it.

Only plain facts about the sessions live here; the objects that keep their own running state
(the byte budget, the metrics) are services (relay.services), and fixed values are
configuration (relay.config). All of it is touched from the event loop only.
"""

import asyncio
from dataclasses import dataclass, field
from typing import Any

from relay.replies import REFUSE_BUSY, REFUSE_DRAINING


@dataclass(eq=False)
class RelayState:
    draining: bool = False
    sessions: set[Any] = field(default_factory=set)
    in_data: set[Any] = field(default_factory=set)
    # Set whenever no session is in DATA: what the drain waits for.
    data_finished: asyncio.Event = field(default_factory=asyncio.Event)

    def admission_refusal(self, max_sessions: int) -> str | None:
        """The reply turning away a new session, or None to serve it."""
        if self.draining:
            return REFUSE_DRAINING
        if len(self.sessions) > max_sessions:
            return REFUSE_BUSY
        return None

    def data_started(self, session: Any) -> None:
        self.in_data.add(session)
        self.data_finished.clear()

    def data_ended(self, session: Any) -> None:
        self.in_data.discard(session)
        if not self.in_data:
            self.data_finished.set()
