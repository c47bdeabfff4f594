"""Secret material that can change while a process runs: the port and its two adapters.

A `SecretSource` hands out the current bytes of one secret (a STARTTLS certificate and key, the
submission credentials) each time it is read; whoever holds it rereads it on a schedule and
compares, so a renewed certificate or a rotated password takes effect without a restart.

- `FileSource`: a file (`INLET_TLS_CERT`, `INLET_TLS_KEY`, `INLET_AUTH_FILE`).
- `SecretsManagerSource`: the SecretString of an AWS Secrets Manager secret
  (`INLET_TLS_SECRET`, `INLET_AUTH_SECRET`), read through an injected boto3 client.

Failures are the project's errors: PermanentError (NotFoundError for a missing file or secret)
when reading again will not help until someone changes something, TransientError when it may
(throttling, a network fault, Secrets Manager's own errors). Neither carries the material:
`describe()` names where a secret lives, never what it holds, and so do the error messages.
"""

import errno
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from inlet.errors import NotFoundError, PermanentError, TransientError

if TYPE_CHECKING:
    from botocore.config import Config
    from mypy_boto3_secretsmanager import SecretsManagerClient

# The most a secret may hold (Secrets Manager's own limit is 64 KiB); a file larger than this
# is not a certificate, a key or a credentials file, and is not read into memory.
MAX_SECRET_BYTES = 1024 * 1024

# Secrets Manager answers that a retry may get past; everything else it answers (no such
# secret, access denied, a key it may not use, a secret scheduled for deletion) waits for a
# person.
_TRANSIENT_CODES = frozenset(
    {
        "InternalServiceError",
        "InternalFailure",
        "ServiceUnavailable",
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)
_NOT_FOUND_CODES = frozenset({"ResourceNotFoundException"})
# Transient errors of the local file system; ENOENT, EACCES and the like are permanent.
_TRANSIENT_ERRNOS = frozenset({errno.EIO, errno.EAGAIN, errno.EINTR, errno.ENOMEM, errno.EBUSY})


class SecretSource(Protocol):
    def read(self) -> bytes:
        """The secret's current bytes. PermanentError or TransientError when it cannot be
        read; the error's message never contains the material."""
        ...

    def describe(self) -> str:
        """Where the secret lives, for logs and error messages (never its value)."""
        ...


class FileSource:
    def __init__(self, path: Path) -> None:
        self.path = path

    def describe(self) -> str:
        return f"file {self.path}"

    def read(self) -> bytes:
        try:
            with self.path.open("rb") as f:
                data = f.read(MAX_SECRET_BYTES + 1)
        except FileNotFoundError:
            raise NotFoundError(f"{self.describe()}: no such file") from None
        except OSError as exc:
            what = f"{self.describe()}: cannot read it ({exc.strerror or type(exc).__name__})"
            if exc.errno in _TRANSIENT_ERRNOS:
                raise TransientError(what) from exc
            raise PermanentError(what) from exc
        if len(data) > MAX_SECRET_BYTES:
            raise PermanentError(f"{self.describe()}: larger than {MAX_SECRET_BYTES} bytes")
        return data


def client_config() -> "Config":
    """Bounded like the other AWS clients: a slow Secrets Manager makes a refresh fail (and
    the current material stay in use) within seconds, not hang the thread that reads it."""
    from botocore.config import Config

    return Config(
        connect_timeout=5, read_timeout=10, retries={"mode": "standard", "max_attempts": 3}
    )


def make_secretsmanager_client() -> "SecretsManagerClient":
    """A Secrets Manager client configured the standard boto3 way (AWS_ENDPOINT_URL,
    AWS_ENDPOINT_URL_SECRETS_MANAGER, AWS_REGION, the task role's credentials)."""
    import boto3

    return boto3.client("secretsmanager", config=client_config())


class SecretsManagerSource:
    """The SecretString of the secret's current version (AWSCURRENT): after a rotation or a
    `put-secret-value`, the next read returns the new value."""

    def __init__(self, client: "SecretsManagerClient", secret_id: str) -> None:
        self.client = client
        self.secret_id = secret_id

    def describe(self) -> str:
        return f"Secrets Manager secret {self.secret_id}"

    def read(self) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            # AWSCURRENT is the default; named, so that no emulator can answer with another.
            answer = self.client.get_secret_value(
                SecretId=self.secret_id, VersionStage="AWSCURRENT"
            )
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            what = f"{self.describe()}: GetSecretValue failed ({code or 'no error code'})"
            if code in _NOT_FOUND_CODES:
                raise NotFoundError(what) from exc
            if code in _TRANSIENT_CODES:
                raise TransientError(what) from exc
            raise PermanentError(what) from exc
        except BotoCoreError as exc:
            # Connection and read timeouts, endpoint unreachable, credentials not yet there.
            raise TransientError(
                f"{self.describe()}: Secrets Manager unreachable ({type(exc).__name__})"
            ) from exc
        text = answer.get("SecretString")
        if text is None:
            raise PermanentError(f"{self.describe()}: has no SecretString (a binary secret?)")
        data = text.encode("utf-8")
        if len(data) > MAX_SECRET_BYTES:
            raise PermanentError(f"{self.describe()}: larger than {MAX_SECRET_BYTES} bytes")
        return data
