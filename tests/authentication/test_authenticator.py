"""The verdicts as the parse step computes them: one message's SPF, DKIM, DMARC and ARC with its
Authentication-Results header; the process-wide cache; the per-message DNS budget."""

import time

import pytest

from inlet.authentication import Authenticator, authenticate, from_domain, header_fields
from inlet.dns import Answer, RecordType
from inlet.dns.breaker import BreakerResolver
from inlet.dns.cache import CachingResolver
from inlet.dns.dnspython import DnspythonResolver
from tests.authentication.messages import message
from tests.authentication.signing import Key, arc_seal, sign
from tests.builders import make_envelope
from tests.dns_server import DnsServer

pytestmark = pytest.mark.dns

CLIENT = "192.0.2.10"


def zones(dns: DnsServer, key: Key) -> None:
    dns.add("example.org", "TXT", f"v=spf1 ip4:{CLIENT} -all")
    dns.add("mx.example.org", "TXT", f"v=spf1 ip4:{CLIENT} -all")
    dns.add("s1._domainkey.example.org", "TXT", key.record)
    dns.add("_dmarc.example.org", "TXT", "v=DMARC1; p=reject; rua=mailto:dmarc@example.org")


def silence(dns: DnsServer) -> None:
    """Every name the zones have, never answered."""
    for name in (
        "example.org",
        "mx.example.org",
        "s1._domainkey.example.org",
        "_dmarc.example.org",
    ):
        dns.never_answer(name)


def envelope(**fields: object):  # type: ignore[no-untyped-def]
    base = {"mail_from": "bounce@example.org", "helo": "mx.example.org", "client_ip": CLIENT}
    return make_envelope(**{**base, **fields})


def test_a_genuine_message_passes_everything(
    dns: DnsServer, resolver: DnspythonResolver, rsa_key: Key
) -> None:
    zones(dns, rsa_key)
    signed = sign(message(), rsa_key, domain="example.org", selector="s1")
    verdicts = authenticate(signed, envelope(), resolver, authserv_id="mx.inlet.example")
    assert verdicts == {
        "spf": {"result": "pass", "domain": "example.org", "helo_result": "pass"},
        "dkim": [{"result": "pass", "domain": "example.org", "selector": "s1"}],
        "dmarc": {"result": "pass", "policy": "reject", "domain": "example.org"},
        "arc": {"result": "none", "chain_length": 0},
        "header": "mx.inlet.example; spf=pass smtp.mailfrom=bounce@example.org; "
        "dkim=pass header.d=example.org header.s=s1; "
        "dmarc=pass (p=reject) header.from=example.org; arc=none",
    }


def test_a_spoofed_from_fails_dmarc_with_its_policy(
    dns: DnsServer, resolver: DnspythonResolver, rsa_key: Key
) -> None:
    zones(dns, rsa_key)
    dns.add("attacker.example", "TXT", "v=spf1 +all")
    spoof = authenticate(
        message(),  # unsigned, From example.org, sent by a host with its own SPF
        envelope(mail_from="x@attacker.example", helo="attacker.example"),
        resolver,
        authserv_id="mx.inlet.example",
    )
    assert spoof["spf"]["result"] == "pass"  # for attacker.example, not aligned with From
    assert spoof["dkim"] == []
    assert spoof["dmarc"] == {"result": "fail", "policy": "reject", "domain": "example.org"}
    assert "dkim=none" in spoof["header"]
    assert "dmarc=fail (p=reject) header.from=example.org" in spoof["header"]


def test_a_forwarded_message_keeps_its_arc_chain(
    dns: DnsServer, resolver: DnspythonResolver, rsa_key: Key
) -> None:
    zones(dns, rsa_key)
    dns.add("arc._domainkey.list.example.net", "TXT", rsa_key.record)
    signed = sign(message(), rsa_key, domain="example.org", selector="s1")
    forwarded = arc_seal(
        signed, rsa_key, domain="list.example.net", selector="arc", results="dkim=pass; arc=none"
    )
    verdicts = authenticate(
        forwarded,
        envelope(mail_from="", helo="list.example.net", client_ip="203.0.113.9"),
        resolver,
        authserv_id="mx.inlet.example",
    )
    assert verdicts["arc"] == {"result": "pass", "chain_length": 1}
    assert verdicts["spf"] == {
        "result": "none",
        "domain": "list.example.net",
        "helo_result": "none",
    }
    assert verdicts["dmarc"]["result"] == "pass"  # the DKIM signature survived the list
    assert verdicts["header"].startswith("mx.inlet.example; spf=none smtp.helo=list.example.net;")


def test_the_cache_asks_dns_once_per_name_for_many_messages(
    dns: DnsServer, resolver: DnspythonResolver, rsa_key: Key
) -> None:
    zones(dns, rsa_key)
    verdicts = Authenticator(CachingResolver(resolver), authserv_id="mx.inlet.example")
    signed = sign(message(), rsa_key, domain="example.org", selector="s1")
    for _ in range(5):
        assert verdicts([signed], envelope())["dmarc"]["result"] == "pass"
    assert dns.query_count("s1._domainkey.example.org", "TXT") == 1
    assert dns.query_count("example.org", "TXT") == 1
    assert dns.query_count("_dmarc.example.org", "TXT") == 1


def test_a_parse_waits_a_bounded_time_on_dns_that_never_answers(
    dns: DnsServer, resolver: DnspythonResolver, rsa_key: Key
) -> None:
    silence(dns)
    verdicts = Authenticator(
        CachingResolver(resolver), authserv_id="mx", total_seconds=1.5, per_query_seconds=0.5
    )
    signed = sign(message(), rsa_key, domain="example.org", selector="s1")
    started = time.monotonic()
    result = verdicts([signed], envelope())
    elapsed = time.monotonic() - started
    assert result["spf"]["result"] == "temperror"
    assert result["spf"]["helo_result"] == "temperror"
    assert result["dkim"][0]["result"] == "temperror"
    assert result["dmarc"]["result"] == "temperror"
    assert elapsed < 1.5 + 0.5  # the budget, and no more than one question's overrun
    # The next message gets a budget of its own, and the failures were not cached.
    dns.reset()
    zones(dns, rsa_key)
    assert verdicts([signed], envelope())["dmarc"]["result"] == "pass"


@pytest.mark.parametrize(
    ("header", "domain"),
    [
        (b"From: Alice <Alice@Example.ORG>\r\n", "example.org"),
        (b"From: a@example.org, b@example.org\r\n", "example.org"),
        (b"From: a@example.org, b@example.net\r\n", None),
        (b"From: undisclosed\r\n", None),
        (b"FROM: =?utf-8?q?Al=C3=AFce?=\r\n <alice@example.org>\r\n", "example.org"),  # folded
        (b"From: a@example.org\r\nFrom: b@example.net\r\n", None),
        (b"", None),
    ],
)
def test_the_from_domain(header: bytes, domain: str | None) -> None:
    raw = header + b"Subject: x\r\n\r\nFrom: body@example.com\r\n"
    assert from_domain(header_fields(raw)) == domain


def test_during_a_dns_outage_messages_stop_waiting_on_it(
    dns: DnsServer, resolver: DnspythonResolver, rsa_key: Key
) -> None:
    silence(dns)
    verdicts = Authenticator(
        CachingResolver(BreakerResolver(resolver, failures=3)),
        authserv_id="mx",
        per_query_seconds=0.3,
    )
    signed = sign(message(), rsa_key, domain="example.org", selector="s1")
    verdicts([signed], envelope())  # three timeouts open the breaker
    asked = len(dns.queries)
    started = time.monotonic()
    later = verdicts([signed], envelope())
    assert time.monotonic() - started < 0.2
    assert len(dns.queries) == asked  # not asked at all
    assert later["spf"]["result"] == later["dmarc"]["result"] == "temperror"
    assert later["dkim"][0]["result"] == "temperror"


class ExplodingKeys:
    """The real resolver, but a DKIM key lookup raises what no check expects (as a library bug
    on a strange message would)."""

    def __init__(self, inner: DnspythonResolver) -> None:
        self.inner = inner

    def lookup(self, name: str, rdtype: RecordType, *, timeout: float) -> Answer:
        if "._domainkey." in name:
            raise RuntimeError("boom")
        return self.inner.lookup(name, rdtype, timeout=timeout)


def test_a_check_that_raises_costs_only_its_own_verdict(
    dns: DnsServer, resolver: DnspythonResolver, rsa_key: Key, caplog: pytest.LogCaptureFixture
) -> None:
    zones(dns, rsa_key)
    signed = sign(message(), rsa_key, domain="example.org", selector="s1")
    verdicts = authenticate(signed, envelope(), ExplodingKeys(resolver), authserv_id="mx")
    assert verdicts["dkim"] == [{"result": "permerror", "domain": None, "selector": None}]
    assert verdicts["spf"]["result"] == "pass"
    assert verdicts["dmarc"]["result"] == "pass"  # on SPF, aligned
    assert verdicts["arc"]["result"] == "none"
    assert [r.verdict for r in caplog.records if r.message == "verdict raised"] == ["dkim"]
