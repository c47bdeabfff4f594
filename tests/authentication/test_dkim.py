"""DKIM (RFC 6376; Ed25519 per RFC 8463) and ARC (RFC 8617) through dkimpy, keys served by the
test DNS server, messages signed with keys made for this run."""

import pytest

from inlet.authentication.dkim import check_arc, check_dkim
from inlet.dns.budget import BudgetedResolver
from inlet.dns.dnspython import DnspythonResolver
from tests.authentication.messages import message
from tests.authentication.signing import Key, arc_seal, make_rsa_key, sign
from tests.dns_server import DnsServer

pytestmark = pytest.mark.dns


def publish(dns: DnsServer, key: Key, *, domain: str, selector: str) -> None:
    dns.add(f"{selector}._domainkey.{domain}", "TXT", key.record)


def test_rsa_and_ed25519_signatures_pass(
    dns: DnsServer, resolver: DnspythonResolver, rsa_key: Key, ed25519_key: Key
) -> None:
    publish(dns, rsa_key, domain="example.org", selector="rsa1")
    publish(dns, ed25519_key, domain="example.org", selector="ed1")
    for key, selector in ((rsa_key, "rsa1"), (ed25519_key, "ed1")):
        signed = sign(message(), key, domain="example.org", selector=selector)
        verdicts = check_dkim(signed, resolver)
        assert verdicts == [{"result": "pass", "domain": "example.org", "selector": selector}]


def test_a_changed_body_or_header_fails(
    dns: DnsServer, resolver: DnspythonResolver, rsa_key: Key
) -> None:
    publish(dns, rsa_key, domain="example.org", selector="s1")
    signed = sign(message(), rsa_key, domain="example.org", selector="s1")
    body_changed = signed.replace(b"Regards", b"Thanks")  # the body hash no longer matches
    header_changed = signed.replace(b"Invoice 2026-12", b"Invoice 2026-13")
    for tampered in (body_changed, header_changed):
        assert check_dkim(tampered, resolver)[0]["result"] == "fail"


def test_a_key_signed_by_another_key_fails(
    dns: DnsServer, resolver: DnspythonResolver, rsa_key: Key, other_rsa_key: Key
) -> None:
    publish(dns, other_rsa_key, domain="example.org", selector="s1")
    signed = sign(message(), rsa_key, domain="example.org", selector="s1")
    assert check_dkim(signed, resolver)[0]["result"] == "fail"


def test_no_key_a_revoked_key_or_a_broken_signature_is_permerror(
    dns: DnsServer, resolver: DnspythonResolver, rsa_key: Key
) -> None:
    signed = sign(message(), rsa_key, domain="example.org", selector="gone")
    assert check_dkim(signed, resolver) == [
        {"result": "permerror", "domain": "example.org", "selector": "gone"}
    ]
    dns.add("gone._domainkey.example.org", "TXT", "v=DKIM1; k=rsa; p=")  # revoked (§3.6.1)
    assert check_dkim(signed, resolver)[0]["result"] == "permerror"
    broken = signed.replace(b"a=rsa-sha256", b"a=rsa-sha999", 1)
    assert check_dkim(broken, resolver)[0]["result"] == "permerror"


def test_a_key_lookup_that_fails_is_temperror(
    dns: DnsServer, resolver: DnspythonResolver, rsa_key: Key
) -> None:
    signed = sign(message(), rsa_key, domain="example.org", selector="s1")
    dns.servfail("s1._domainkey.example.org")
    assert check_dkim(signed, resolver)[0]["result"] == "temperror"
    dns.reset()
    dns.never_answer("s1._domainkey.example.org")
    budget = BudgetedResolver(resolver, total=1.0, per_query=0.3)
    assert check_dkim(signed, budget)[0]["result"] == "temperror"


def test_every_signature_is_reported_in_order(
    dns: DnsServer, resolver: DnspythonResolver, rsa_key: Key, ed25519_key: Key
) -> None:
    publish(dns, rsa_key, domain="example.org", selector="s1")
    publish(dns, ed25519_key, domain="esp.example.net", selector="ed")
    once = sign(message(), rsa_key, domain="example.org", selector="s1")
    twice = sign(once, ed25519_key, domain="esp.example.net", selector="ed")
    thrice = sign(twice, rsa_key, domain="example.com", selector="nokey")
    assert check_dkim(thrice, resolver) == [
        {"result": "permerror", "domain": "example.com", "selector": "nokey"},
        {"result": "pass", "domain": "esp.example.net", "selector": "ed"},
        {"result": "pass", "domain": "example.org", "selector": "s1"},
    ]


def test_an_unsigned_message_has_no_verdicts(resolver: DnspythonResolver, dns: DnsServer) -> None:
    assert check_dkim(message(), resolver) == []
    assert dns.queries == []


def test_an_arc_chain_of_two_passes_and_a_broken_one_fails(
    dns: DnsServer, resolver: DnspythonResolver, rsa_key: Key, ed25519_key: Key
) -> None:
    publish(dns, rsa_key, domain="list.example.net", selector="arc")
    publish(dns, ed25519_key, domain="fwd.example.com", selector="arc2")
    hop1 = arc_seal(
        message(), rsa_key, domain="list.example.net", selector="arc", results="arc=none"
    )
    hop2 = arc_seal(hop1, rsa_key, domain="fwd.example.com", selector="arc2", results="arc=pass")
    # The second hop's key is published as Ed25519, but it sealed with RSA: only hop1 holds.
    assert check_arc(hop1, resolver) == {"result": "pass", "chain_length": 1}
    assert check_arc(hop2, resolver) == {"result": "fail", "chain_length": 2}
    publish(dns, rsa_key, domain="fwd.example.com", selector="arc3")
    hop2 = arc_seal(hop1, rsa_key, domain="fwd.example.com", selector="arc3", results="arc=pass")
    assert check_arc(hop2, resolver) == {"result": "pass", "chain_length": 2}
    changed = hop2.replace(b"Regards", b"Thanks")  # after the last seal: its AMS fails
    assert check_arc(changed, resolver) == {"result": "fail", "chain_length": 2}


def test_no_arc_headers_is_none(resolver: DnspythonResolver) -> None:
    assert check_arc(message(), resolver) == {"result": "none", "chain_length": 0}


def test_an_arc_key_lookup_that_fails_is_temperror(
    dns: DnsServer, resolver: DnspythonResolver, rsa_key: Key
) -> None:
    sealed = arc_seal(
        message(), rsa_key, domain="list.example.net", selector="arc", results="arc=none"
    )
    dns.servfail("arc._domainkey.list.example.net")
    assert check_arc(sealed, resolver) == {"result": "temperror", "chain_length": 1}


def test_a_4096_bit_key_comes_in_one_udp_answer(
    dns: DnsServer, resolver: DnspythonResolver
) -> None:
    key = make_rsa_key(4096)
    publish(dns, key, domain="example.org", selector="big")
    signed = sign(message(), key, domain="example.org", selector="big")
    assert check_dkim(signed, resolver)[0]["result"] == "pass"
    # EDNS (1232 bytes) holds the ~750-byte answer: no truncation, so no second query by TCP.
    assert dns.query_count("big._domainkey.example.org", "TXT") == 1
