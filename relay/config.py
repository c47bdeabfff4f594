"""What one relay process was configured with: fixed for its lifetime, shared by every session.

The relay's objects come in three kinds, each in its own module:

- `RelayConfig` (here): plain, frozen values taken from the settings at start.
- `RelayState` (relay.state): what changes while the relay runs and every session sees
  (draining, the open sessions, the sessions in DATA).
- `RelayServices` (relay.services): the objects sessions use to do their work (the message
  store, the worker threads that call it, the byte budget, the metrics, the on_stored hook).
"""

from dataclasses import dataclass

from inlet.settings import Settings
from relay.policy import normalise_domain


@dataclass(frozen=True, slots=True)
class RelayConfig:
    domains: frozenset[str]  # normalised (relay.policy.normalise_domain)
    hostname: str
    relay_id: str
    max_message_size: int
    max_recipients: int
    max_sessions: int
    max_sessions_per_ip: int
    require_tls: bool  # on the SMTP port (submission always requires it)
    store_timeout: float  # seconds from the end of DATA to the store's confirmation
    data_timeout: float  # seconds one DATA phase may take in all
    # seconds a session in DATA may send nothing while holding memory others wait for
    stall_timeout: float

    @classmethod
    def from_settings(cls, settings: Settings, *, relay_id: str) -> "RelayConfig":
        return cls(
            domains=frozenset(normalise_domain(d) for d in settings.domains),
            hostname=settings.hostname,
            relay_id=relay_id,
            max_message_size=settings.max_message_size,
            max_recipients=settings.max_recipients,
            max_sessions=settings.max_sessions,
            max_sessions_per_ip=settings.max_sessions_per_ip,
            require_tls=settings.require_tls,
            store_timeout=settings.store_timeout,
            data_timeout=settings.data_timeout,
            stall_timeout=settings.stall_timeout,
        )
