"""Submission credentials: `user:hash` lines, hashes made by a slow KDF (Argon2id).

The hashes are argon2-cffi's encoded form, which carries its own parameters, so a file made
with other parameters still verifies. The parameters for new hashes are OWASP's minimum for
Argon2id (19 MiB, 2 passes, 1 lane): slow enough to make guessing costly, small enough that a
relay verifying a few logins at once stays within its memory. Passwords are never stored,
logged or kept longer than the call that checks them.
"""

from collections.abc import Mapping
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from inlet.errors import ConfigError

_HASHER = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)


@cache
def _dummy() -> str:
    """Checked when the user is unknown, so an unknown user costs as long as a wrong one."""
    return _HASHER.hash("inlet: no such user")


def hash_password(password: str) -> str:
    """The hash of `password` for an auth file line (`user:<hash>`)."""
    if not password:
        raise ConfigError("an empty password cannot be hashed")
    return _HASHER.hash(password)


def parse(text: bytes, source: str) -> dict[str, str]:
    """The users and hashes in an auth file's `text` (from `source`, named in errors).

    One `user:hash` line each; blank lines and `#` comments are skipped. A line that is not
    of that form, a hash that is not Argon2 (plaintext would be the usual mistake) or a user
    listed twice is a ConfigError naming the line, never its content. No users at all is
    valid (a new deployment's placeholder): every login then fails."""
    users: dict[str, str] = {}
    try:
        lines = text.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        raise ConfigError(f"{source}: not UTF-8 text") from None
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, encoded = line.partition(":")
        if not sep or not user or not encoded.startswith("$argon2"):
            raise ConfigError(
                f"{source} line {number}: expected user:hash with a hash from `inlet auth hash`"
            )
        if user in users:
            raise ConfigError(f"{source} line {number}: user {user!r} is listed twice")
        users[user] = encoded
    return users


def verify(users: Mapping[str, str], user: str, password: str) -> bool:
    """Whether `password` is `user`'s. Blocking and slow by design: call it off the loop."""
    encoded = users.get(user)
    try:
        return _HASHER.verify(encoded or _dummy(), password) and encoded is not None
    except (VerificationError, InvalidHashError):
        return False
