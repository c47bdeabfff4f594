"""The `Inlet-Signature` header: an HMAC-SHA256 over "<t>.<body>" with the shared secret.

The timestamp is signed with the body so a captured request cannot be replayed later than the
receiver's tolerance; a replay by Inlet itself signs afresh.
"""

from __future__ import annotations

import hashlib
import hmac

TOLERANCE_SECONDS = 300


def _digest(secret: str, body: bytes, t: int) -> str:
    return hmac.new(secret.encode(), str(t).encode() + b"." + body, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, t: int) -> str:
    """The header value for `body` sent at unix time `t`."""
    return f"t={t},v1={_digest(secret, body, t)}"


def _parse(header: str) -> tuple[int, list[str]] | None:
    t: int | None = None
    v1: list[str] = []
    if not header.isascii():
        return None  # int() and compare_digest refuse what is not ASCII digits and hex
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep:
            return None
        if name == "t":
            if not value.isdigit():
                return None
            t = int(value)
        elif name == "v1":
            v1.append(value)
    if t is None or not v1:
        return None
    return t, v1


def verify(
    secret: str, body: bytes, header: str, *, now: float, tolerance: int = TOLERANCE_SECONDS
) -> bool:
    """True when `header` signs `body` with `secret` and its `t` is within `tolerance` of `now`."""
    parsed = _parse(header)
    if parsed is None:
        return False
    t, signatures = parsed
    if abs(now - t) > tolerance:
        return False
    expected = _digest(secret, body, t)
    return any(hmac.compare_digest(expected, candidate) for candidate in signatures)
