"""SPF (RFC 7208) through pyspf against the test DNS server: every result word, the HELO
identity (and the null sender), the lookup and void-lookup limits."""

from typing import Any

import pytest

from inlet.authentication.spf import check_spf
from inlet.dns.budget import BudgetedResolver
from inlet.dns.dnspython import DnspythonResolver
from tests.builders import make_envelope
from tests.dns_server import DnsServer

pytestmark = pytest.mark.dns

CLIENT = "192.0.2.10"


def spf(resolver: Any, **envelope: Any) -> dict[str, Any]:
    fields = {"mail_from": "bounce@example.org", "helo": "mx.example.org", "client_ip": CLIENT}
    return dict(check_spf(make_envelope(**{**fields, **envelope}), resolver))


@pytest.mark.parametrize(
    ("policy", "result"),
    [
        (f"v=spf1 ip4:{CLIENT} -all", "pass"),
        ("v=spf1 ip4:198.51.100.0/24 -all", "fail"),
        ("v=spf1 ip4:198.51.100.0/24 ~all", "softfail"),
        ("v=spf1 ip4:198.51.100.0/24 ?all", "neutral"),
        ("v=spf1 ip4:198.51.100.0/24 bogus:x -all", "permerror"),
    ],
)
def test_each_result_word(
    dns: DnsServer, resolver: DnspythonResolver, policy: str, result: str
) -> None:
    dns.add("example.org", "TXT", policy)
    verdict = spf(resolver)
    assert verdict["result"] == result
    assert verdict["domain"] == "example.org"


def test_no_policy_is_none_and_two_policies_are_permerror(
    dns: DnsServer, resolver: DnspythonResolver
) -> None:
    dns.add("example.org", "TXT", "unrelated=1")
    assert spf(resolver)["result"] == "none"
    dns.add("two.example.org", "TXT", "v=spf1 -all", "v=spf1 +all")
    assert spf(resolver, mail_from="bounce@two.example.org")["result"] == "permerror"


def test_mechanisms_that_ask_dns(dns: DnsServer, resolver: DnspythonResolver) -> None:
    dns.add("example.org", "TXT", "v=spf1 mx include:_spf.example.net -all")
    dns.add("example.org", "MX", "10 mx1.example.org")
    dns.add("mx1.example.org", "A", "198.51.100.7")
    dns.add("_spf.example.net", "TXT", "v=spf1 a:out.example.net -all")
    dns.add("out.example.net", "A", CLIENT)
    assert spf(resolver)["result"] == "pass"  # through include: and a:
    assert spf(resolver, client_ip="198.51.100.7")["result"] == "pass"  # through mx
    assert spf(resolver, client_ip="203.0.113.1")["result"] == "fail"


def test_ipv6_client(dns: DnsServer, resolver: DnspythonResolver) -> None:
    dns.add("example.org", "TXT", "v=spf1 ip6:2001:db8::/32 -all")
    assert spf(resolver, client_ip="2001:db8::25")["result"] == "pass"
    assert spf(resolver, client_ip="2001:db9::25")["result"] == "fail"


def test_a_dns_failure_is_temperror(dns: DnsServer, resolver: DnspythonResolver) -> None:
    dns.servfail("example.org")
    assert spf(resolver)["result"] == "temperror"
    dns.reset()
    dns.never_answer("example.org")
    budget = BudgetedResolver(resolver, total=1.0, per_query=0.3)
    assert spf(budget)["result"] == "temperror"


def test_the_helo_identity_is_checked_and_stands_for_the_null_sender(
    dns: DnsServer, resolver: DnspythonResolver
) -> None:
    dns.add("mx.example.net", "TXT", f"v=spf1 ip4:{CLIENT} -all")
    dns.add("example.org", "TXT", "v=spf1 -all")
    mail = spf(resolver, helo="mx.example.net")
    assert mail == {"result": "fail", "domain": "example.org", "helo_result": "pass"}
    bounce = spf(resolver, mail_from="", helo="mx.example.net")
    assert bounce == {"result": "pass", "domain": "mx.example.net", "helo_result": "pass"}
    literal = spf(resolver, mail_from="", helo="[192.0.2.10]")
    assert literal == {"result": "none", "domain": None, "helo_result": "none"}


def test_more_than_ten_lookups_is_permerror(dns: DnsServer, resolver: DnspythonResolver) -> None:
    # RFC 7208 §4.6.4: include, a, mx, ptr, exists and redirect count; ten at most.
    names = [f"i{n}.example.org" for n in range(11)]
    dns.add("example.org", "TXT", "v=spf1 " + " ".join(f"include:{n}" for n in names) + " -all")
    for name in names:
        dns.add(name, "TXT", "v=spf1 ip4:198.51.100.1 -all")
    assert spf(resolver)["result"] == "permerror"
    dns.add("ten.example.org", "TXT", "v=spf1 " + " ".join(f"include:{n}" for n in names[:10]))
    # Ten is allowed: no match and no `all`, so neutral.
    assert spf(resolver, mail_from="bounce@ten.example.org")["result"] == "neutral"


def test_more_than_two_void_lookups_is_permerror(
    dns: DnsServer, resolver: DnspythonResolver
) -> None:
    # RFC 7208 §4.6.4: lookups that find nothing (NXDOMAIN or no records) count; two at most.
    dns.add("example.org", "TXT", "v=spf1 a:v1.example.org a:v2.example.org a:v3.example.org -all")
    assert spf(resolver)["result"] == "permerror"
    dns.add("two.example.org", "TXT", "v=spf1 a:v1.example.org a:v2.example.org -all")
    assert spf(resolver, mail_from="bounce@two.example.org")["result"] == "fail"


def test_behind_the_load_balancer_the_proxy_source_is_checked(
    dns: DnsServer, resolver: DnspythonResolver
) -> None:
    dns.add("example.org", "TXT", f"v=spf1 ip4:{CLIENT} ip6:2001:db8::/32 -all")
    # client_ip is then the load balancer's address: never the one SPF judges.
    proxied = spf(resolver, client_ip="10.0.3.7", proxied_from=f"{CLIENT}:40000")
    assert proxied["result"] == "pass"
    assert spf(resolver, client_ip="10.0.3.7", proxied_from="2001:db8::25:40000")["result"] == (
        "pass"
    )
    assert spf(resolver, client_ip=CLIENT, proxied_from="203.0.113.5:40000")["result"] == "fail"


def test_no_client_address_means_nothing_to_check(resolver: DnspythonResolver) -> None:
    assert spf(resolver, client_ip=None)["result"] == "none"
