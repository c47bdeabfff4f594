"""DMARC (RFC 7489) over the SPF and DKIM results: policy discovery at the From domain and its
organizational domain (Public Suffix List), relaxed and strict alignment, p and sp."""

from typing import Any

import pytest

from inlet.authentication.dmarc import check_dmarc
from inlet.authentication.results import DkimVerdict, SpfVerdict
from inlet.dns.dnspython import DnspythonResolver
from tests.dns_server import DnsServer

pytestmark = pytest.mark.dns

SPF_NONE: SpfVerdict = {"result": "none", "domain": None, "helo_result": "none"}


def spf_pass(domain: str) -> SpfVerdict:
    return {"result": "pass", "domain": domain, "helo_result": "none"}


def dkim(result: str, domain: str) -> list[DkimVerdict]:
    return [{"result": result, "domain": domain, "selector": "s1"}]  # type: ignore[typeddict-item]


def dmarc(resolver: Any, from_domain: str | None, spf: SpfVerdict, sigs: Any) -> dict[str, Any]:
    return dict(check_dmarc(from_domain, spf, sigs, resolver))


def test_aligned_spf_or_dkim_passes_relaxed(dns: DnsServer, resolver: DnspythonResolver) -> None:
    dns.add("_dmarc.example.org", "TXT", "v=DMARC1; p=reject")
    expected = {"result": "pass", "policy": "reject", "domain": "example.org"}
    assert dmarc(resolver, "example.org", spf_pass("bounce.example.org"), []) == expected
    assert dmarc(resolver, "example.org", SPF_NONE, dkim("pass", "mail.example.org")) == expected


def test_unaligned_or_failing_identifiers_fail(dns: DnsServer, resolver: DnspythonResolver) -> None:
    dns.add("_dmarc.example.org", "TXT", "v=DMARC1; p=quarantine")
    fail = {"result": "fail", "policy": "quarantine", "domain": "example.org"}
    assert dmarc(resolver, "example.org", spf_pass("example.net"), []) == fail
    assert dmarc(resolver, "example.org", SPF_NONE, dkim("fail", "example.org")) == fail
    assert dmarc(resolver, "example.org", SPF_NONE, dkim("pass", "example.com")) == fail


def test_strict_alignment_needs_the_exact_domain(
    dns: DnsServer, resolver: DnspythonResolver
) -> None:
    dns.add("_dmarc.example.org", "TXT", "v=DMARC1; p=reject; adkim=s; aspf=s")
    sub_spf, sub_dkim = spf_pass("bounce.example.org"), dkim("pass", "mail.example.org")
    assert dmarc(resolver, "example.org", sub_spf, sub_dkim)["result"] == "fail"
    assert dmarc(resolver, "example.org", spf_pass("example.org"), [])["result"] == "pass"
    assert dmarc(resolver, "example.org", SPF_NONE, dkim("pass", "example.org"))["result"] == (
        "pass"
    )


def test_a_subdomain_gets_sp_from_the_organizational_domain(
    dns: DnsServer, resolver: DnspythonResolver
) -> None:
    dns.add("_dmarc.example.co.uk", "TXT", "v=DMARC1; p=reject; sp=quarantine")
    verdict = dmarc(resolver, "news.example.co.uk", SPF_NONE, dkim("pass", "example.co.uk"))
    # co.uk is a public suffix: the organizational domain is example.co.uk, so d= aligns.
    assert verdict == {"result": "pass", "policy": "quarantine", "domain": "news.example.co.uk"}
    assert dmarc(resolver, "example.co.uk", SPF_NONE, [])["policy"] == "reject"
    assert dns.query_count("_dmarc.news.example.co.uk", "TXT") == 1  # asked first
    # Without sp=, a subdomain gets p.
    dns.add("_dmarc.example.net", "TXT", "v=DMARC1; p=reject")
    assert dmarc(resolver, "a.b.example.net", SPF_NONE, [])["policy"] == "reject"


def test_a_record_at_the_subdomain_itself_applies_its_p(
    dns: DnsServer, resolver: DnspythonResolver
) -> None:
    dns.add("_dmarc.example.org", "TXT", "v=DMARC1; p=reject; sp=reject")
    dns.add("_dmarc.news.example.org", "TXT", "v=DMARC1; p=none")
    assert dmarc(resolver, "news.example.org", SPF_NONE, [])["policy"] == "none"


def test_no_record_is_none_and_a_broken_one_permerror(
    dns: DnsServer, resolver: DnspythonResolver
) -> None:
    assert dmarc(resolver, "example.org", spf_pass("example.org"), []) == {
        "result": "none",
        "policy": None,
        "domain": "example.org",
    }
    dns.add("_dmarc.example.net", "TXT", "v=DMARC1; p=bounce")
    assert dmarc(resolver, "example.net", SPF_NONE, [])["result"] == "permerror"
    # A bad p= with a report address stands as p=none (RFC 7489 §6.6.3).
    dns.add("_dmarc.example.com", "TXT", "v=DMARC1; p=bounce; rua=mailto:d@example.com")
    assert dmarc(resolver, "example.com", SPF_NONE, [])["policy"] == "none"
    dns.add("_dmarc.two.example", "TXT", "v=DMARC1; p=none", "v=DMARC1; p=reject")
    assert dmarc(resolver, "two.example", SPF_NONE, [])["result"] == "permerror"


def test_a_dns_failure_is_temperror(dns: DnsServer, resolver: DnspythonResolver) -> None:
    dns.servfail("_dmarc.example.org")
    assert dmarc(resolver, "example.org", spf_pass("example.org"), [])["result"] == "temperror"


def test_no_single_from_domain_is_none(resolver: DnspythonResolver) -> None:
    assert dmarc(resolver, None, SPF_NONE, [])["result"] == "none"
