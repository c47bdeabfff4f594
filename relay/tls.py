"""STARTTLS material: a server SSLContext from PEM bytes, kept current while the relay runs.

The certificate chain and key come from a SecretSource (inlet.secret_source): two PEM files
(INLET_TLS_CERT, INLET_TLS_KEY), or one Secrets Manager secret (INLET_TLS_SECRET) whose
SecretString is `{"certificate": "<PEM chain, leaf first>", "private_key": "<PEM>"}`.
A TlsProvider holds the context new sessions get; `refresh()` rereads the source and builds a
new context only when the material changed. A refresh that fails (unreadable, not PEM, a key
that does not match the certificate) keeps the current context, logs a warning that names the
source and the reason, and is tried again at the next refresh. Nothing here logs or raises
with the material in it: messages name where it came from and what is wrong with it.

ssl loads certificates and keys only from files: the PEM goes into an anonymous in-memory file
(memfd, Linux) that is opened by its /proc path and closed as soon as OpenSSL has read it, so
the key never touches a disk (and the relay's root filesystem can stay read-only); elsewhere
into a 0600 file in a private temporary directory, deleted at once.
"""

import base64
import binascii
import hashlib
import json
import logging
import os
import re
import ssl
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from inlet.errors import InletError, PermanentError
from inlet.secret_source import FileSource, SecretSource

log = logging.getLogger(__name__)

# The fields of the secret's JSON form (docs/deploy.md; the CDK app creates the secret with
# PLACEHOLDER until an operator puts a certificate there).
CERTIFICATE_FIELD = "certificate"
PRIVATE_KEY_FIELD = "private_key"
PLACEHOLDER = json.dumps({CERTIFICATE_FIELD: "", PRIVATE_KEY_FIELD: ""})

MINIMUM_VERSION = ssl.TLSVersion.TLSv1_2

_CERTIFICATE = re.compile(
    rb"-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+?)-----END CERTIFICATE-----"
)
_PRIVATE_KEY = re.compile(rb"-----BEGIN ((?:RSA |EC |ENCRYPTED )?)PRIVATE KEY-----")


@dataclass(frozen=True, slots=True, repr=False)
class TlsMaterial:
    certificate: bytes  # PEM: the leaf, then the intermediates
    private_key: bytes  # PEM, unencrypted

    def __repr__(self) -> str:  # never the key, not even in a traceback's locals
        return f"TlsMaterial(sha256={self.fingerprint()})"

    def digest(self) -> bytes:
        """Identifies this material (to notice a change) without keeping a copy of it."""
        return hashlib.sha256(self.certificate + b"\0" + self.private_key).digest()

    def fingerprint(self) -> str:
        """SHA-256 of the leaf certificate (DER), as `openssl x509 -fingerprint -sha256` shows
        it without the colons: public, and what the logs name the certificate by."""
        match = _CERTIFICATE.search(self.certificate)
        if match is None:
            return "none"
        try:
            der = base64.b64decode(b"".join(match.group(1).split()), validate=True)
        except binascii.Error:
            return "invalid"
        return hashlib.sha256(der).hexdigest()


def parse_secret(data: bytes, where: str) -> TlsMaterial | None:
    """The material in a secret's JSON form; None for the placeholder (no certificate yet).
    PermanentError, naming `where` and the problem (never the content), for anything else."""
    try:
        value = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        value = None
    if not isinstance(value, dict):
        raise PermanentError(
            f"{where}: not a JSON object with {CERTIFICATE_FIELD!r} and {PRIVATE_KEY_FIELD!r}"
        )
    fields = []
    for name in (CERTIFICATE_FIELD, PRIVATE_KEY_FIELD):
        text = value.get(name)
        if not isinstance(text, str):
            raise PermanentError(f"{where}: {name!r} is missing or not a string")
        fields.append(text)
    certificate, private_key = fields
    if not certificate and not private_key:
        return None
    return TlsMaterial(certificate.encode("utf-8"), private_key.encode("utf-8"))


def server_context(material: TlsMaterial, where: str, *, in_memory: bool = True) -> ssl.SSLContext:
    """A server-side context for STARTTLS with `material`: TLS 1.2 or later, no client
    certificates asked for. PermanentError if the material does not make one."""
    if _CERTIFICATE.search(material.certificate) is None:
        raise PermanentError(f"{where}: the certificate is no PEM CERTIFICATE block")
    key = _PRIVATE_KEY.search(material.private_key)
    if key is None:
        raise PermanentError(f"{where}: the private key is no PEM PRIVATE KEY block")
    if key.group(1) == b"ENCRYPTED " or b"Proc-Type: 4,ENCRYPTED" in material.private_key:
        raise PermanentError(f"{where}: the private key is encrypted; store it without one")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = MINIMUM_VERSION
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    context.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    with _pem_paths(material, in_memory=in_memory) as (cert_path, key_path):
        try:
            context.load_cert_chain(cert_path, key_path, password=_no_password)
        except _PasswordAsked:
            raise PermanentError(
                f"{where}: the private key is encrypted; store it without one"
            ) from None
        except ssl.SSLError as exc:
            # The reason is OpenSSL's (KEY_VALUES_MISMATCH, PEM lib, ...): no material in it.
            reason = exc.reason or exc.library or "unreadable"
            raise PermanentError(
                f"{where}: the certificate and key do not load ({reason})"
            ) from None
    return context


class TlsProvider:
    """The STARTTLS context new sessions get, reread from its source by `refresh()`.

    Built from what the source holds now: an error there (InletError) means the relay
    cannot start with what it was given. A secret that still holds the placeholder gives no
    context (STARTTLS is not offered) until a certificate arrives at a later refresh."""

    def __init__(self, read: Callable[[], TlsMaterial | None], *, source: str) -> None:
        self.source = source
        self._read = read
        self._context: ssl.SSLContext | None = None
        self._digest: bytes | None = None
        self.fingerprint: str | None = None
        self.failures = 0  # refreshes that kept the current context because of an error
        self.last_error: str | None = None
        material = read()
        if material is None:
            log.warning(
                "no STARTTLS certificate yet: STARTTLS is not offered until one is stored",
                extra={"source": source},
            )
            return
        self._install(material, server_context(material, source))

    @classmethod
    def from_files(cls, cert: SecretSource, key: SecretSource) -> "TlsProvider":
        def read() -> TlsMaterial:
            return TlsMaterial(cert.read(), key.read())

        return cls(read, source=f"{cert.describe()} and {key.describe()}")

    @classmethod
    def from_paths(cls, cert: Path, key: Path) -> "TlsProvider":
        return cls.from_files(FileSource(cert), FileSource(key))

    @classmethod
    def from_secret(cls, secret: SecretSource) -> "TlsProvider":
        where = secret.describe()
        return cls(lambda: parse_secret(secret.read(), where), source=where)

    @property
    def context(self) -> ssl.SSLContext | None:
        """For a new session: the newest material that loaded (None: no certificate yet)."""
        return self._context

    def refresh(self) -> bool:
        """Reread the source (blocking I/O: call it off the event loop). True if a new context
        is in place; never raises: on any failure the current context stays."""
        try:
            material = self._read()
            digest = material.digest() if material is not None else None
            if digest == self._digest:
                return False
            if material is None:
                raise PermanentError(f"{self.source}: holds the placeholder, no certificate")
            context = server_context(material, self.source)
        except Exception as exc:  # whatever happens, the relay keeps serving
            self.failures += 1
            # An InletError's message is ours (no material); of anything else only its type.
            self.last_error = str(exc) if isinstance(exc, InletError) else type(exc).__name__
            log.warning(
                "STARTTLS material not refreshed; the current certificate stays in use",
                extra={
                    "source": self.source,
                    "error": self.last_error,
                    "sha256": self.fingerprint,
                },
            )
            return False
        self._install(material, context)
        return True

    def _install(self, material: TlsMaterial, context: ssl.SSLContext) -> None:
        previous = self.fingerprint
        self._context, self._digest = context, material.digest()
        self.fingerprint = material.fingerprint()
        log.info(
            "STARTTLS certificate loaded",
            extra={"source": self.source, "sha256": self.fingerprint, "previous": previous},
        )


class _PasswordAsked(Exception):
    pass


def _no_password() -> bytes:
    # Without a callback OpenSSL would prompt on the terminal for an encrypted key.
    raise _PasswordAsked


@contextmanager
def _pem_paths(material: TlsMaterial, *, in_memory: bool) -> Iterator[tuple[str, str]]:
    """Paths OpenSSL can open that hold the certificate and the key, for as long as the
    block runs; nothing is left behind after it."""
    descriptors = _memfds(material) if in_memory else None
    if descriptors is not None:
        try:
            cert_fd, key_fd = descriptors
            yield f"/proc/self/fd/{cert_fd}", f"/proc/self/fd/{key_fd}"
        finally:
            for fd in descriptors:
                os.close(fd)
        return
    try:
        directory = tempfile.TemporaryDirectory(prefix="inlet-tls-")  # mode 0700
    except OSError as exc:
        raise PermanentError(f"no place to stage the certificate for OpenSSL: {exc}") from exc
    with directory:
        paths = []
        for name, data in (("cert.pem", material.certificate), ("key.pem", material.private_key)):
            path = os.path.join(directory.name, name)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            paths.append(path)
        yield paths[0], paths[1]


def _memfds(material: TlsMaterial) -> tuple[int, int] | None:
    """Two anonymous in-memory files with the certificate and the key; None where the
    platform has none (or /proc is not there to open them by)."""
    if not hasattr(os, "memfd_create") or not os.path.isdir("/proc/self/fd"):
        return None
    descriptors: list[int] = []
    try:
        for data in (material.certificate, material.private_key):
            fd = os.memfd_create("inlet-tls", os.MFD_CLOEXEC)
            descriptors.append(fd)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
    except OSError:
        for fd in descriptors:
            os.close(fd)
        return None
    return descriptors[0], descriptors[1]
