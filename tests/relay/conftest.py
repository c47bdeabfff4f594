"""Fixtures for the relay tests: a certificate authority and a server certificate for
relay.test, as files."""

from pathlib import Path

import pytest
import trustme


@pytest.fixture(scope="session")
def tls_ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_files(tls_ca: trustme.CA, tmp_path: Path) -> tuple[Path, Path]:
    cert = tls_ca.issue_cert("relay.test")
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.cert_chain_pems[0].write_to_path(str(cert_path))
    cert.private_key_pem.write_to_path(str(key_path))
    return cert_path, key_path
