"""The test DNS server, asked through dnspython over real sockets, answers as an authoritative
server would: the verdict tests rely on it doing so."""

import base64
import os
import threading
import time

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.resolver
import pytest

from tests.dns_server import DnsServer

pytestmark = pytest.mark.dns

# DER SubjectPublicKeyInfo sizes of RSA keys: the TXT record's p= is their base64.
RSA_2048_SPKI = 294
RSA_4096_SPKI = 550


def dkim_record(spki_bytes: int) -> str:
    return f"v=DKIM1; k=rsa; p={base64.b64encode(os.urandom(spki_bytes)).decode()}"


@pytest.fixture
def server(dns: DnsServer) -> DnsServer:
    """The session's server (tests/conftest.py), reset."""
    return dns


@pytest.fixture
def stub(server: DnsServer) -> dns.resolver.Resolver:
    """How the code under test asks: no EDNS, one nameserver, no cache."""
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [server.host]
    resolver.port = server.port
    resolver.retry_servfail = False
    return resolver


def texts(answer: dns.resolver.Answer) -> list[str]:
    assert answer.rrset is not None
    return sorted(rdata.to_text() for rdata in answer.rrset)


def test_address_and_port_are_the_bound_ones(server: DnsServer) -> None:
    assert server.host == "127.0.0.1"
    assert server.port > 0
    assert server.address == f"127.0.0.1:{server.port}"


def test_a_aaaa_mx_ptr_answer_authoritatively_with_the_ttl(
    server: DnsServer, stub: dns.resolver.Resolver
) -> None:
    server.add("Mail.Example.org.", "A", "192.0.2.1", "192.0.2.2", ttl=120)
    server.add("mail.example.org", "AAAA", "2001:db8::1")
    server.add("example.org", "MX", "10 mail.example.org", "20 backup.example.net.")
    server.add("1.2.0.192.in-addr.arpa", "PTR", "mail.example.org")

    a = stub.resolve("mail.EXAMPLE.org", "A", lifetime=1)
    assert texts(a) == ["192.0.2.1", "192.0.2.2"]
    assert a.rrset is not None
    assert a.rrset.ttl == 120
    assert a.response.flags & dns.flags.AA
    assert not a.response.flags & dns.flags.RA
    assert texts(stub.resolve("mail.example.org", "AAAA", lifetime=1)) == ["2001:db8::1"]
    mx = stub.resolve("example.org", "MX", lifetime=1)
    assert texts(mx) == ["10 mail.example.org.", "20 backup.example.net."]
    assert mx.rrset is not None
    assert mx.rrset.ttl == 300
    ptr = stub.resolve("1.2.0.192.in-addr.arpa", "PTR", lifetime=1)
    assert texts(ptr) == ["mail.example.org."]


def test_txt_values_are_records_and_long_ones_are_split_into_255_byte_strings(
    server: DnsServer, stub: dns.resolver.Resolver
) -> None:
    record = dkim_record(RSA_2048_SPKI)
    server.add("example.org", "TXT", "v=spf1 -all", "other")
    server.add("s1._domainkey.example.org", "TXT", record)

    short = stub.resolve("example.org", "TXT", lifetime=1)
    assert short.rrset is not None
    assert sorted(rdata.strings for rdata in short.rrset) == [(b"other",), (b"v=spf1 -all",)]
    dkim = stub.resolve("s1._domainkey.example.org", "TXT", lifetime=1)
    assert dkim.rrset is not None
    assert len(dkim.rrset) == 1
    strings = dkim.rrset[0].strings
    assert [len(s) for s in strings] == [255, len(record) - 255]
    assert b"".join(strings).decode() == record
    # An RSA-2048 record fits a 512-byte UDP reply: asked once, no TCP retry.
    assert server.query_count("s1._domainkey.example.org", "TXT") == 1


def test_a_udp_reply_over_512_bytes_without_edns_is_truncated_and_tcp_answers_it(
    server: DnsServer, stub: dns.resolver.Resolver
) -> None:
    record = dkim_record(RSA_4096_SPKI)
    server.add("big._domainkey.example.org", "TXT", record)
    query = dns.message.make_query("big._domainkey.example.org", "TXT")

    udp = dns.query.udp(query, server.host, port=server.port, timeout=1)
    assert udp.flags & dns.flags.TC
    assert udp.answer == []
    tcp = dns.query.tcp(query, server.host, port=server.port, timeout=1)
    assert not tcp.flags & dns.flags.TC
    assert b"".join(tcp.answer[0][0].strings).decode() == record

    server.reset()
    server.add("big._domainkey.example.org", "TXT", record)
    answer = stub.resolve("big._domainkey.example.org", "TXT", lifetime=1)
    assert answer.rrset is not None
    assert b"".join(answer.rrset[0].strings).decode() == record
    assert server.query_count("big._domainkey.example.org", "TXT") == 2  # UDP, then TCP


def test_the_edns_payload_size_sets_the_udp_limit(server: DnsServer) -> None:
    record = dkim_record(RSA_4096_SPKI)
    server.add("big._domainkey.example.org", "TXT", record)

    large = dns.message.make_query("big._domainkey.example.org", "TXT", use_edns=0, payload=1232)
    reply = dns.query.udp(large, server.host, port=server.port, timeout=1)
    assert not reply.flags & dns.flags.TC
    assert reply.edns == 0
    assert b"".join(reply.answer[0][0].strings).decode() == record
    small = dns.message.make_query("big._domainkey.example.org", "TXT", use_edns=0, payload=512)
    assert dns.query.udp(small, server.host, port=server.port, timeout=1).flags & dns.flags.TC


def test_a_cname_chain_is_followed_to_the_records_of_the_asked_type(
    server: DnsServer, stub: dns.resolver.Resolver
) -> None:
    server.add("www.example.org", "CNAME", "web.example.org")
    server.add("web.example.org", "CNAME", "host.example.net")
    server.add("host.example.net", "A", "192.0.2.7")
    server.add("out.example.org", "CNAME", "elsewhere.example.com")

    answer = stub.resolve("www.example.org", "A", lifetime=1)
    assert texts(answer) == ["192.0.2.7"]
    assert str(answer.canonical_name) == "host.example.net."
    assert len(answer.response.answer) == 3
    cname = stub.resolve("www.example.org", "CNAME", lifetime=1)
    assert texts(cname) == ["web.example.org."]
    # A target the server does not hold is another zone's: the CNAME alone, NOERROR.
    out = stub.resolve("out.example.org", "A", lifetime=1, raise_on_no_answer=False)
    assert out.rrset is None
    assert out.response.rcode() == dns.rcode.NOERROR
    assert str(out.canonical_name) == "elsewhere.example.com."


def test_a_cname_loop_ends(server: DnsServer) -> None:
    server.add("a.example.org", "CNAME", "b.example.org")
    server.add("b.example.org", "CNAME", "a.example.org")

    reply = dns.query.udp(
        dns.message.make_query("a.example.org", "A"), server.host, port=server.port, timeout=1
    )
    assert reply.rcode() == dns.rcode.NOERROR
    assert len(reply.answer) == 2  # dnspython merges the repeated CNAME RRs into their RRsets


def test_nodata_is_an_empty_answer_and_nxdomain_is_raised(
    server: DnsServer, stub: dns.resolver.Resolver
) -> None:
    server.add("example.org", "A", "192.0.2.1")

    nodata = stub.resolve("example.org", "TXT", lifetime=1, raise_on_no_answer=False)
    assert nodata.rrset is None
    assert nodata.response.rcode() == dns.rcode.NOERROR
    with pytest.raises(dns.resolver.NoAnswer):
        stub.resolve("example.org", "TXT", lifetime=1)
    with pytest.raises(dns.resolver.NXDOMAIN):
        stub.resolve("absent.example.org", "TXT", lifetime=1, raise_on_no_answer=False)


def test_servfail_makes_the_resolver_give_up(
    server: DnsServer, stub: dns.resolver.Resolver
) -> None:
    server.add("broken.example.org", "TXT", "v=spf1 -all")
    server.servfail("Broken.example.org.")

    with pytest.raises(dns.resolver.NoNameservers):
        stub.resolve("broken.example.org", "TXT", lifetime=1)
    assert server.query_count("broken.example.org", "TXT") == 1


def test_never_answer_times_out_while_other_names_still_answer(
    server: DnsServer, stub: dns.resolver.Resolver
) -> None:
    server.add("slow.example.org", "TXT", "v=spf1 -all")
    server.add("fast.example.org", "A", "192.0.2.9")
    server.never_answer("slow.example.org")
    raised: list[BaseException] = []

    def ask_slow() -> None:
        try:
            stub.resolve("slow.example.org", "TXT", lifetime=0.5)
        except dns.exception.DNSException as exc:
            raised.append(exc)

    started = time.monotonic()
    waiter = threading.Thread(target=ask_slow)
    waiter.start()
    try:
        assert texts(stub.resolve("fast.example.org", "A", lifetime=0.4)) == ["192.0.2.9"]
        assert time.monotonic() - started < 0.4  # answered while the other query hung
    finally:
        waiter.join(timeout=2)
    assert len(raised) == 1
    assert isinstance(raised[0], dns.exception.Timeout)
    assert server.query_count("slow.example.org", "TXT") >= 1


def test_never_answer_also_drops_queries_over_tcp(server: DnsServer) -> None:
    server.never_answer("slow.example.org")
    query = dns.message.make_query("slow.example.org", "TXT")

    with pytest.raises(dns.exception.Timeout):
        dns.query.tcp(query, server.host, port=server.port, timeout=0.3)


def test_the_query_log_counts_every_query_by_lower_case_name_and_type(
    server: DnsServer, stub: dns.resolver.Resolver
) -> None:
    server.add("example.org", "A", "192.0.2.1")

    for _ in range(3):
        stub.resolve("Example.ORG.", "A", lifetime=1)
    stub.resolve("example.org", "MX", lifetime=1, raise_on_no_answer=False)
    with pytest.raises(dns.resolver.NXDOMAIN):
        stub.resolve("nothing.example.org", "TXT", lifetime=1)

    assert server.query_count("example.org", "A") == 3
    assert server.query_count("EXAMPLE.org.", "a") == 3
    assert server.query_count("example.org", "MX") == 1
    assert server.query_count("example.org", "TXT") == 0
    assert server.queries == [("example.org", "A")] * 3 + [
        ("example.org", "MX"),
        ("nothing.example.org", "TXT"),
    ]


def test_reset_forgets_records_failures_and_the_log(
    server: DnsServer, stub: dns.resolver.Resolver
) -> None:
    server.add("example.org", "A", "192.0.2.1")
    server.servfail("broken.example.org")
    server.never_answer("slow.example.org")
    stub.resolve("example.org", "A", lifetime=1)

    server.reset()

    assert server.queries == []
    with pytest.raises(dns.resolver.NXDOMAIN):
        stub.resolve("example.org", "A", lifetime=1)
    for name in ("broken.example.org", "slow.example.org"):
        with pytest.raises(dns.resolver.NXDOMAIN):
            stub.resolve(name, "A", lifetime=1)


def test_add_rejects_what_it_cannot_serve(server: DnsServer) -> None:
    with pytest.raises(ValueError, match="unsupported"):
        server.add("example.org", "SRV", "0 0 25 mail.example.org")
    with pytest.raises(ValueError, match="not enough values"):
        server.add("example.org", "MX", "mail.example.org")  # no preference


def test_stop_is_prompt_even_with_a_dropped_tcp_query_pending() -> None:
    server = DnsServer().start()
    server.never_answer("slow.example.org")
    query = dns.message.make_query("slow.example.org", "TXT")
    with pytest.raises(dns.exception.Timeout):
        dns.query.tcp(query, server.host, port=server.port, timeout=0.2)

    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 1
