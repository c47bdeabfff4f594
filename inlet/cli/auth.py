"""`inlet auth hash`: a password from stdin, its hash on stdout (for a `user:<hash>` line)."""

import getpass
import sys

from inlet.credentials import hash_password
from inlet.errors import ConfigError


def hash_from_stdin() -> int:
    if sys.stdin.isatty():
        password = getpass.getpass("password: ")
    else:
        # One line; only its line ending is not part of the password.
        password = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
    if not password:
        raise ConfigError("no password on stdin")
    print(hash_password(password))
    return 0
