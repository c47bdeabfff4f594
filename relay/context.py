"""What every SMTP session of one relay process shares."""

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from inlet.blobstore import BlobStore
from inlet.envelope import Envelope
from relay.budget import ByteBudget
from relay.metrics import RelayMetrics
from relay.policy import REFUSE_BUSY, REFUSE_DRAINING, normalise_domain


@dataclass(eq=False)
class RelayContext:
    store: BlobStore
    domains: frozenset[str]
    hostname: str
    relay_id: str
    max_message_size: int
    max_recipients: int
    max_sessions: int
    budget: ByteBudget
    executor: ThreadPoolExecutor
    metrics: RelayMetrics = field(default_factory=RelayMetrics)
    # Called (in the event loop) after a message was stored and acknowledged: where the local
    # pipeline hooks in. The AWS pipeline is driven by S3 events instead.
    on_stored: Callable[[Envelope], None] | None = None
    draining: bool = False
    sessions: set[Any] = field(default_factory=set)
    in_data: set[Any] = field(default_factory=set)
    data_finished: asyncio.Event = field(default_factory=asyncio.Event)

    @classmethod
    def accepting(cls, domains: tuple[str, ...], **kwargs: Any) -> "RelayContext":
        return cls(domains=frozenset(normalise_domain(d) for d in domains), **kwargs)

    def admission_refusal(self) -> str | None:
        if self.draining:
            return REFUSE_DRAINING
        if len(self.sessions) > self.max_sessions:
            return REFUSE_BUSY
        return None

    def data_ended(self, session: Any) -> None:
        self.in_data.discard(session)
        if not self.in_data:
            self.data_finished.set()
