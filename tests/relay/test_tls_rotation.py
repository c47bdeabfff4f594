"""STARTTLS material that changes under a running relay: TLS 1.2 or later only; a replaced
certificate file or a rotated Secrets Manager secret reaches new sessions within one refresh
interval, without a restart; broken new material keeps the current certificate serving; and
nothing of the key ever reaches a log line or an error message."""

import json
import logging
import os
import re
import smtplib
import socket
import ssl
import tempfile
import threading
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import trustme

from inlet.blobstore.filesystem import FilesystemBlobStore
from inlet.cli.wiring import open_tls
from inlet.errors import ConfigError, PermanentError
from inlet.secret_source import FileSource
from relay.tls import (
    CERTIFICATE_FIELD,
    PLACEHOLDER,
    PRIVATE_KEY_FIELD,
    TlsMaterial,
    TlsProvider,
    parse_secret,
    server_context,
)
from tests.aws import REGION, moto_server
from tests.processes import wait_for
from tests.support import running_relay, settings

pytestmark = pytest.mark.relay

HOST = "relay.test"  # the name the certificates are issued for
REFRESH = 1.0  # INLET_SECRETS_REFRESH's minimum


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def cert_a(ca: trustme.CA) -> trustme.LeafCert:
    return ca.issue_cert(HOST)


@pytest.fixture(scope="module")
def cert_b(ca: trustme.CA) -> trustme.LeafCert:
    return ca.issue_cert(HOST, "mx.relay.test")


def chain(cert: trustme.LeafCert) -> bytes:
    return b"".join(blob.bytes() for blob in cert.cert_chain_pems)


def key(cert: trustme.LeafCert) -> bytes:
    return cert.private_key_pem.bytes()


def der(cert: trustme.LeafCert) -> bytes:
    return ssl.PEM_cert_to_DER_cert(cert.cert_chain_pems[0].bytes().decode("ascii"))


def secret_json(cert: trustme.LeafCert, private_key: bytes | None = None) -> str:
    return json.dumps(
        {
            CERTIFICATE_FIELD: chain(cert).decode(),
            PRIVATE_KEY_FIELD: (private_key or key(cert)).decode(),
        }
    )


def install(directory: Path, certificate: bytes, private_key: bytes) -> tuple[Path, Path]:
    """Write (or replace, by renaming new files over the old) the PEM pair in `directory`."""
    paths = directory / "cert.pem", directory / "key.pem"
    for path, data in zip(paths, (certificate, private_key), strict=True):
        staged = path.with_suffix(".new")
        staged.write_bytes(data)
        staged.replace(path)
    return paths


def client_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


def served_certificate(port: int, context: ssl.SSLContext) -> bytes:
    """The certificate (DER) a new session's STARTTLS presents."""
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        smtp.ehlo("client.test")
        assert smtp.has_extn("starttls")
        smtp._host = HOST  # type: ignore[attr-defined]  # what the certificate names
        smtp.starttls(context=context)
        sock = smtp.sock
        assert isinstance(sock, ssl.SSLSocket)
        served = sock.getpeercert(binary_form=True)
        assert served is not None
        return served


def offers_starttls(port: int) -> bool:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        smtp.ehlo("client.test")
        return smtp.has_extn("starttls")


def starttls_raw(port: int) -> socket.socket:
    """A connection that has just been told `220` to STARTTLS, for a client of our own."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    reader = sock.makefile("rb")
    assert reader.readline().startswith(b"220")
    sock.sendall(b"EHLO client.test\r\n")
    while reader.readline()[3:4] == b"-":
        pass
    sock.sendall(b"STARTTLS\r\n")
    assert reader.readline().startswith(b"220")
    reader.close()
    return sock


# -- the protocol versions -------------------------------------------------------------


def test_starttls_needs_tls_1_2_or_later(
    fs_store: FilesystemBlobStore, tmp_path: Path, ca: trustme.CA, cert_a: trustme.LeafCert
) -> None:
    cert_path, key_path = install(tmp_path, chain(cert_a), key(cert_a))
    with running_relay(fs_store, settings(tls_cert=cert_path, tls_key=key_path)) as relay:
        # TLS 1.2 and 1.3 are accepted.
        for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            context = client_context(ca)
            context.minimum_version = context.maximum_version = version
            with context.wrap_socket(starttls_raw(relay.port), server_hostname=HOST) as tls:
                assert tls.version() == {"TLSv1_2": "TLSv1.2", "TLSv1_3": "TLSv1.3"}[version.name]
        # A TLS 1.1 client is refused (the relay closes the connection, or sends a protocol
        # version alert first).
        raw = starttls_raw(relay.port)
        with pytest.raises(ssl.SSLError) as refused:
            tls_1_1_client().wrap_socket(raw).close()
        raw.close()
        assert refused.value.reason in (
            "TLSV1_ALERT_PROTOCOL_VERSION",
            "UNEXPECTED_EOF_WHILE_READING",
        )
    # The same client completes a handshake with a server that allows TLS 1.1: the refusal
    # above was the relay's, not this machine's OpenSSL policy.
    assert handshake_with_permissive_server(cert_a) == "TLSv1.1"


def tls_1_1_client() -> ssl.SSLContext:
    """A client that offers TLS 1.1 only (security level 0: OpenSSL 3 would not even offer
    it otherwise)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = context.maximum_version = ssl.TLSVersion.TLSv1_1
    return context


def handshake_with_permissive_server(cert: trustme.LeafCert) -> str | None:
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        server.minimum_version = ssl.TLSVersion.TLSv1
    cert.configure_cert(server)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        done = threading.Thread(target=lambda: _accept_tls(listener, server))
        done.start()
        with (
            socket.create_connection(listener.getsockname(), timeout=10) as sock,
            tls_1_1_client().wrap_socket(sock) as tls,
        ):
            version = tls.version()
        done.join(10)
    return version


def _accept_tls(listener: socket.socket, context: ssl.SSLContext) -> None:
    conn, _ = listener.accept()
    with conn, context.wrap_socket(conn, server_side=True):
        pass


# -- rotation from files ---------------------------------------------------------------


def test_a_replaced_certificate_file_reaches_new_sessions_without_a_restart(
    fs_store: FilesystemBlobStore,
    tmp_path: Path,
    ca: trustme.CA,
    cert_a: trustme.LeafCert,
    cert_b: trustme.LeafCert,
) -> None:
    cert_path, key_path = install(tmp_path, chain(cert_a), key(cert_a))
    config = settings(tls_cert=cert_path, tls_key=key_path, secrets_refresh=REFRESH)
    context = client_context(ca)
    with running_relay(fs_store, config) as relay:
        assert served_certificate(relay.port, context) == der(cert_a)
        # A session that started under certificate A ...
        early = smtplib.SMTP("127.0.0.1", relay.port, timeout=10)
        early._host = HOST  # type: ignore[attr-defined]
        early.starttls(context=context)
        install(tmp_path, chain(cert_b), key(cert_b))
        wait_for(lambda: served_certificate(relay.port, context) == der(cert_b), timeout=10)
        # ... goes on after the rotation; the relay was never restarted.
        assert early.sendmail("a@example.org", ["b@example.com"], b"Subject: a\r\n\r\nx\r\n") == {}
        early.quit()
        assert not relay.relay.stopped.is_set()
        assert relay.relay.tls is not None
        assert relay.relay.tls.failures == 0


def test_a_broken_new_file_keeps_the_current_certificate(
    fs_store: FilesystemBlobStore,
    tmp_path: Path,
    ca: trustme.CA,
    cert_a: trustme.LeafCert,
    cert_b: trustme.LeafCert,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cert_path, key_path = install(tmp_path, chain(cert_a), key(cert_a))
    config = settings(tls_cert=cert_path, tls_key=key_path, secrets_refresh=REFRESH)
    context = client_context(ca)
    with caplog.at_level(logging.INFO), running_relay(fs_store, config) as relay:
        provider = relay.relay.tls
        assert provider is not None
        # B's certificate with A's key: the pair does not match.
        install(tmp_path, chain(cert_b), key(cert_a))
        wait_for(lambda: provider.failures >= 1, timeout=10)
        assert served_certificate(relay.port, context) == der(cert_a)
        assert "do not load (KEY_VALUES_MISMATCH)" in (provider.last_error or "")
        # A file that is gone is no better.
        key_path.unlink()
        wait_for(lambda: provider.failures >= 2, timeout=10)
        assert served_certificate(relay.port, context) == der(cert_a)
        # Repaired, the next refresh takes it.
        install(tmp_path, chain(cert_b), key(cert_b))
        wait_for(lambda: served_certificate(relay.port, context) == der(cert_b), timeout=10)
    warnings_logged = [r for r in caplog.records if r.getMessage().startswith("STARTTLS material")]
    assert warnings_logged
    assert all(r.levelno == logging.WARNING for r in warnings_logged)
    assert_no_material(caplog, cert_a, cert_b)


def assert_no_material(caplog: pytest.LogCaptureFixture, *certs: trustme.LeafCert) -> None:
    """No log record (message or extra fields) carries any part of a key or certificate."""
    for record in caplog.records:
        text = json.dumps({**record.__dict__, "message": record.getMessage()}, default=str)
        assert "PRIVATE KEY" not in text
        assert "BEGIN CERTIFICATE" not in text
        for cert in certs:
            for line in key(cert).splitlines()[1:-1]:
                assert line.decode() not in text


# -- rotation through Secrets Manager --------------------------------------------------


def unique(name: str) -> str:
    """moto's backends outlive one server: every test names its secrets afresh."""
    return f"{name}-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def secretsmanager(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """moto's server on 127.0.0.1, reached the standard boto3 way (AWS_ENDPOINT_URL): the
    relay's own client, built by the CLI's wiring, talks to it over HTTP."""
    with moto_server() as endpoint:
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        yield boto3.client("secretsmanager", region_name=REGION, endpoint_url=endpoint)


@pytest.mark.integration
def test_a_rotated_secret_reaches_new_sessions_and_a_broken_one_is_ignored(
    fs_store: FilesystemBlobStore,
    secretsmanager: Any,
    ca: trustme.CA,
    cert_a: trustme.LeafCert,
    cert_b: trustme.LeafCert,
    caplog: pytest.LogCaptureFixture,
) -> None:
    arn = secretsmanager.create_secret(Name=unique("inlet/tls"), SecretString=secret_json(cert_a))[
        "ARN"
    ]
    config = settings(tls_secret=arn, secrets_refresh=REFRESH)
    provider = open_tls(config)
    assert provider is not None
    context = client_context(ca)
    with caplog.at_level(logging.INFO), running_relay(fs_store, config, tls=provider) as relay:
        assert served_certificate(relay.port, context) == der(cert_a)
        secretsmanager.put_secret_value(SecretId=arn, SecretString=secret_json(cert_b))
        wait_for(lambda: served_certificate(relay.port, context) == der(cert_b), timeout=10)
        # Broken versions: a key that does not match, then not JSON at all. B stays.
        for broken, failures in ((secret_json(cert_a, key(cert_b)), 1), ("-----BEGIN", 2)):
            secretsmanager.put_secret_value(SecretId=arn, SecretString=broken)
            wait_for(lambda n=failures: provider.failures >= n, timeout=10)  # type: ignore[misc]
            assert served_certificate(relay.port, context) == der(cert_b)
        assert "not a JSON object" in (provider.last_error or "")
        assert not relay.relay.stopped.is_set()
    assert_no_material(caplog, cert_a, cert_b)


@pytest.mark.integration
def test_a_secret_without_a_certificate_yet_serves_plain_smtp_until_one_arrives(
    fs_store: FilesystemBlobStore,
    secretsmanager: Any,
    ca: trustme.CA,
    cert_a: trustme.LeafCert,
) -> None:
    # What the CDK app creates: the placeholder, until an operator puts the certificate.
    arn = secretsmanager.create_secret(Name=unique("inlet/tls"), SecretString=PLACEHOLDER)["ARN"]
    config = settings(tls_secret=arn, secrets_refresh=REFRESH)
    provider = open_tls(config)
    assert provider is not None
    assert provider.context is None
    with running_relay(fs_store, config, tls=provider) as relay:
        assert not offers_starttls(relay.port)
        secretsmanager.put_secret_value(SecretId=arn, SecretString=secret_json(cert_a))
        wait_for(lambda: offers_starttls(relay.port), timeout=10)
        assert served_certificate(relay.port, client_context(ca)) == der(cert_a)
        # Back to the placeholder (a mistake): the certificate stays.
        secretsmanager.put_secret_value(SecretId=arn, SecretString=PLACEHOLDER)
        wait_for(lambda: provider.failures >= 1, timeout=10)
        assert served_certificate(relay.port, client_context(ca)) == der(cert_a)


@pytest.mark.integration
def test_the_relay_does_not_start_on_a_secret_it_cannot_use(secretsmanager: Any) -> None:
    with pytest.raises(ConfigError, match=r"STARTTLS: Secrets Manager secret inlet/none: "):
        open_tls(settings(tls_secret="inlet/none"))
    arn = secretsmanager.create_secret(Name=unique("inlet/tls"), SecretString='{"certificate": 1}')[
        "ARN"
    ]
    with pytest.raises(ConfigError, match="'certificate' is missing or not a string"):
        open_tls(settings(tls_secret=arn))


# -- the material itself ---------------------------------------------------------------


def test_the_secret_form(cert_a: trustme.LeafCert) -> None:
    material = parse_secret(secret_json(cert_a).encode(), "s")
    assert material == TlsMaterial(chain(cert_a), key(cert_a))
    assert parse_secret(PLACEHOLDER.encode(), "s") is None
    for bad, problem in (
        (b"\xff", "not a JSON object"),
        (b"[1]", "not a JSON object"),
        (b'{"certificate": "x"}', "'private_key' is missing"),
        (b'{"certificate": null, "private_key": ""}', "'certificate' is missing or not a string"),
    ):
        with pytest.raises(PermanentError, match=problem):
            parse_secret(bad, "s")
    # Half a placeholder is a mistake, and the PEM check names which half.
    half = parse_secret(json.dumps({"certificate": "", "private_key": "k"}).encode(), "s")
    assert half is not None
    with pytest.raises(PermanentError, match="the certificate is no PEM CERTIFICATE block"):
        server_context(half, "s")


def test_unusable_material_is_refused_by_name_without_its_content(
    ca: trustme.CA, cert_a: trustme.LeafCert, cert_b: trustme.LeafCert
) -> None:
    encrypted = (
        b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIFHDBOBgkqhkiG9w0BBQ0wQTApBgkqhkiG9w0BBQww\n"
        b"-----END ENCRYPTED PRIVATE KEY-----\n"
    )
    cases = (
        (TlsMaterial(chain(cert_a), key(cert_b)), "do not load (KEY_VALUES_MISMATCH)"),
        (TlsMaterial(chain(cert_a), b"not pem"), "no PEM PRIVATE KEY block"),
        (TlsMaterial(key(cert_a), key(cert_a)), "no PEM CERTIFICATE block"),
        (TlsMaterial(chain(cert_a), encrypted), "the private key is encrypted"),
    )
    for material, problem in cases:
        with pytest.raises(PermanentError, match=re.escape(problem)) as caught:
            server_context(material, "secret s")
        assert "secret s" in str(caught.value)
        assert "PRIVATE KEY-----" not in str(caught.value)
    # Not even a repr gives the key away.
    assert "PRIVATE" not in repr(TlsMaterial(chain(cert_a), key(cert_a)))


def test_the_context_is_server_side_tls_1_2_up_and_asks_no_client_certificate(
    cert_a: trustme.LeafCert,
) -> None:
    context = server_context(TlsMaterial(chain(cert_a), key(cert_a)), "s")
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert context.verify_mode == ssl.CERT_NONE
    assert not context.check_hostname
    assert context.options & ssl.OP_NO_COMPRESSION


def open_descriptors() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def test_loading_leaves_no_file_and_no_descriptor_behind(
    cert_a: trustme.LeafCert, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    material = TlsMaterial(chain(cert_a), key(cert_a))
    before = open_descriptors()
    server_context(material, "s")  # in memory (memfd)
    assert open_descriptors() == before
    # Where there is no memfd: a private temporary directory, removed at once.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    server_context(material, "s", in_memory=False)
    assert list(tmp_path.iterdir()) == []
    assert open_descriptors() == before


def test_a_provider_builds_a_new_context_only_when_the_material_changed(
    tmp_path: Path, cert_a: trustme.LeafCert, cert_b: trustme.LeafCert
) -> None:
    cert_path, key_path = install(tmp_path, chain(cert_a), key(cert_a))
    provider = TlsProvider.from_files(FileSource(cert_path), FileSource(key_path))
    first = provider.context
    assert first is not None
    assert provider.refresh() is False
    assert provider.context is first
    install(tmp_path, chain(cert_b), key(cert_b))
    assert provider.refresh() is True
    assert provider.context is not first
    assert provider.fingerprint == TlsMaterial(chain(cert_b), key(cert_b)).fingerprint()
    assert provider.source == f"file {cert_path} and file {key_path}"


def test_files_that_do_not_load_stop_the_start(
    tmp_path: Path, cert_a: trustme.LeafCert, cert_b: trustme.LeafCert
) -> None:
    cert_path, key_path = install(tmp_path, chain(cert_a), key(cert_b))
    with pytest.raises(ConfigError, match=r"STARTTLS: file .*cert\.pem and file .*key\.pem: "):
        open_tls(settings(tls_cert=cert_path, tls_key=key_path))
