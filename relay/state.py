"""What changes while one relay process runs, as every session and the drain see it.

Only plain facts about the sessions live here; the objects that keep their own running state
(the byte budget, the metrics, the failed-AUTH limiter) are services (relay.services), and
fixed values are configuration (relay.config). All of it is touched from the event loop only.
"""

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from relay.replies import REFUSE_BUSY, REFUSE_DRAINING, REFUSE_PER_IP


@dataclass(eq=False)
class RelayState:
    draining: bool = False
    # Every open connection (what a shutdown closes); the admitted sessions (served, not
    # turned away), and how many of them each client address has.
    connections: set[Any] = field(default_factory=set)
    sessions: set[Any] = field(default_factory=set)
    per_address: Counter[str] = field(default_factory=Counter)
    in_data: set[Any] = field(default_factory=set)
    # Set whenever no session is in DATA: what the drain waits for.
    data_finished: asyncio.Event = field(default_factory=asyncio.Event)

    def admit(
        self, session: Any, address: str | None, *, max_sessions: int, max_per_address: int
    ) -> str | None:
        """Serve `session` from client `address` (counted until `leave`), or the reply that
        turns it away. A session turned away is not counted, however long it lingers."""
        if self.draining:
            return REFUSE_DRAINING
        if len(self.sessions) >= max_sessions:
            return REFUSE_BUSY
        if address is not None and self.per_address[address] >= max_per_address:
            return REFUSE_PER_IP
        self.sessions.add(session)
        if address is not None:
            self.per_address[address] += 1
        return None

    def leave(self, session: Any, address: str | None) -> None:
        if session not in self.sessions:
            return
        self.sessions.discard(session)
        if address is not None:
            self.per_address[address] -= 1
            if self.per_address[address] <= 0:
                del self.per_address[address]

    def data_started(self, session: Any) -> None:
        self.in_data.add(session)
        self.data_finished.clear()

    def data_ended(self, session: Any) -> None:
        self.in_data.discard(session)
        if not self.in_data:
            self.data_finished.set()
