"""The verdict tests' world: a real DNS server on 127.0.0.1 serving the test zones, and keys
made afresh for each run, with which the test messages are signed."""

import pytest

from inlet.dns.dnspython import DnspythonResolver
from tests.authentication.signing import Key, make_ed25519_key, make_rsa_key
from tests.dns_server import DnsServer


@pytest.fixture(scope="session")
def rsa_key() -> Key:
    return make_rsa_key()


@pytest.fixture(scope="session")
def other_rsa_key() -> Key:
    return make_rsa_key()


@pytest.fixture(scope="session")
def ed25519_key() -> Key:
    return make_ed25519_key()


@pytest.fixture
def resolver(dns: DnsServer) -> DnspythonResolver:
    """The production adapter, asking the test server (no cache: each test sees its queries)."""
    return DnspythonResolver((dns.host, dns.port))
