"""The objects every session of one relay process uses to do its work.

Unlike configuration (relay.config) these are objects with behaviour, and some keep running
state of their own: the byte budget counts what sessions hold, the metrics count what happened
since the last flush. They are services rather than relay state (relay.state) because sessions
call them rather than read them.
"""

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from inlet.envelope import Envelope
from inlet.message_store import MessageStore
from relay.auth import AuthLimiter, Credentials
from relay.budget import ByteBudget
from relay.metrics import RelayMetrics


@dataclass(frozen=True, eq=False)
class RelayServices:
    messages: MessageStore
    # Every message store call runs here, never on the event loop (the calls block).
    executor: ThreadPoolExecutor
    budget: ByteBudget
    metrics: RelayMetrics = field(default_factory=RelayMetrics)
    # Called (in the event loop) after a message was stored and acknowledged: where the local
    # pipeline hooks in. The AWS pipeline is driven by S3 events instead.
    on_stored: Callable[[Envelope], None] | None = None
    # The submission port's users (None: no submission port), the failed logins per client,
    # and the threads that check passwords: few, since each check takes 19 MiB for a moment.
    credentials: Credentials | None = None
    auth_limiter: AuthLimiter = field(default_factory=AuthLimiter)
    auth_executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=2, thread_name_prefix="auth")
    )
