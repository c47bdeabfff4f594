"""AUTH on the submission port: who may log in, and how often a client may fail.

`Credentials` holds the users read from the auth file or secret and rereads it on `refresh`
(rotation without a restart); a bad new version is logged and the old users stay. `AuthLimiter`
counts failed logins per client address in a sliding window: past the limit the address is
refused AUTH until its oldest failure ages out, so a guesser gets a few tries per window
whichever sessions it opens. Both live in the event loop; password checks run in a worker
thread (the KDF is slow on purpose).
"""

import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable

from inlet import credentials
from inlet.errors import InletError

log = logging.getLogger(__name__)


class Credentials:
    def __init__(self, read: Callable[[], bytes], *, source: str) -> None:
        self._read = read
        self.source = source  # a path or secret id, for logs (never the content)
        self._raw: bytes | None = None
        self._users: dict[str, str] = {}

    def refresh(self) -> bool:
        """Reread the source (blocking: call it off the loop); whether the users changed.
        The first read's errors propagate (a relay must not start without its users)."""
        try:
            raw = self._read()
            if raw == self._raw:
                return False
            users = credentials.parse(raw, self.source)
        except InletError as exc:
            if self._raw is None:
                raise
            log.warning("credentials not reloaded from %s, the old ones stay: %s", self.source, exc)
            return False
        self._raw, self._users = raw, users
        if users:
            log.info("credentials loaded", extra={"source": self.source, "users": len(users)})
        else:
            log.warning(
                "no submission users in %s: every AUTH fails until some are put there", self.source
            )
        return True

    def verify(self, user: bytes, password: bytes) -> str | None:
        """The user's name if `password` is theirs, else None. Blocking and slow."""
        try:
            name, secret = user.decode("utf-8"), password.decode("utf-8")
        except UnicodeDecodeError:
            return None
        return name if credentials.verify(self._users, name, secret) else None


class AuthLimiter:
    def __init__(
        self,
        *,
        failures: int = 5,
        window: float = 300.0,
        addresses: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failures = failures
        self.window = window
        self._addresses = addresses  # bound on memory: the least recently failing go first
        self._clock = clock
        self._seen: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, address: str) -> deque[float]:
        times = self._seen.get(address)
        if times is None:
            return deque()
        cutoff = self._clock() - self.window
        while times and times[0] <= cutoff:
            times.popleft()
        if not times:
            del self._seen[address]
        return times

    def blocked(self, address: str) -> bool:
        return len(self._recent(address)) >= self.failures

    def failed(self, address: str) -> None:
        times = self._recent(address)
        times.append(self._clock())
        self._seen[address] = times
        self._seen.move_to_end(address)
        while len(self._seen) > self._addresses:
            self._seen.popitem(last=False)
