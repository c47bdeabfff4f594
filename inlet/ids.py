"""Message ids: ULIDs (26 Crockford base32 characters, 48-bit ms timestamp + 80 random bits).

Time-sortable, URL- and key-safe, and they carry their own date, so the storage keys of a
message derive from its id alone.
"""

import os
import time
from datetime import UTC, datetime

from inlet.errors import ConfigError

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_DECODE = {c: i for i, c in enumerate(_ALPHABET)}
ID_LENGTH = 26


def mint_id(now_ms: int | None = None) -> str:
    """A new id for a message received at `now_ms` (milliseconds since the epoch)."""
    ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    value = (ms << 80) | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(ID_LENGTH):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def is_valid_id(candidate: str) -> bool:
    return (
        len(candidate) == ID_LENGTH
        and candidate[0] in "01234567"  # 26*5 = 130 bits; the top two must be zero
        and all(c in _DECODE for c in candidate)
    )


def check_id(candidate: str) -> str:
    """`candidate` if it is an id; ConfigError (bad usage) otherwise."""
    if not is_valid_id(candidate):
        raise ConfigError(f"not an Inlet message id: {candidate!r}")
    return candidate


def id_time(message_id: str) -> datetime:
    """The UTC instant encoded in an id. Raises ValueError for anything that is not an id."""
    if not is_valid_id(message_id):
        raise ValueError(f"not an Inlet message id: {message_id!r}")
    ms = 0
    for c in message_id[:10]:
        ms = (ms << 5) | _DECODE[c]
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def lowest_id(at: datetime) -> str:
    """The smallest id minted at or after `at`: a bound for time-range queries over ids."""
    ms = max(0, int(at.timestamp() * 1000))
    chars = []
    for _ in range(10):
        chars.append(_ALPHABET[ms & 31])
        ms >>= 5
    return "".join(reversed(chars)) + "0" * (ID_LENGTH - 10)
