"""The DNS port over dnspython: a stub resolver asking one configured server, or the system's
(/etc/resolv.conf; on Lambda, the function's resolver)."""

import logging

import dns.exception
import dns.name
import dns.rdatatype
import dns.resolver
from dns.rdtypes.ANY.CNAME import CNAME
from dns.rdtypes.ANY.MX import MX
from dns.rdtypes.ANY.PTR import PTR
from dns.rdtypes.ANY.TXT import TXT

from inlet.dns import Answer, DnsError, Record, RecordType

log = logging.getLogger(__name__)

# How long "no such name" is kept, and "no such record" when the server sends no SOA to say
# (RFC 2308 takes the SOA's minimum).
NEGATIVE_TTL = 60.0


class DnspythonResolver:
    def __init__(self, nameserver: tuple[str, int] | None = None) -> None:
        """`nameserver`: (address, port) of the one server to ask (INLET_DNS_RESOLVER); None:
        the system's configuration."""
        self._unconfigured: str | None = None
        if nameserver is None:
            try:
                resolver = dns.resolver.Resolver()
            except dns.resolver.NoResolverConfiguration as exc:
                # Every verdict becomes a temperror, said once here and in each answer.
                self._unconfigured = f"no system DNS configuration ({exc})"
                log.warning("no DNS resolver configured: every verdict is a temperror")
                resolver = dns.resolver.Resolver(configure=False)
        else:
            resolver = dns.resolver.Resolver(configure=False)
            resolver.nameservers = [nameserver[0]]
            resolver.port = nameserver[1]
        resolver.cache = None  # CachingResolver keeps answers, with its own bounds
        # EDNS with the payload size DNS flag day 2020 settled on: a 4096-bit DKIM key (a
        # ~750-byte answer) comes over UDP instead of a truncated reply and a retry over TCP.
        resolver.use_edns(0, 0, 1232)
        resolver.retry_servfail = False
        self._resolver = resolver

    def lookup(self, name: str, rdtype: RecordType, *, timeout: float) -> Answer:
        if self._unconfigured:
            raise DnsError(f"{name} {rdtype}: {self._unconfigured}")
        try:
            qname = dns.name.from_text(name)
        except (dns.exception.DNSException, UnicodeError):
            return Answer((), NEGATIVE_TTL)  # not a name DNS can hold: nothing is there
        try:
            answer = self._resolver.resolve(
                qname, rdtype, lifetime=timeout, search=False, raise_on_no_answer=False
            )
        except dns.resolver.NXDOMAIN:
            return Answer((), NEGATIVE_TTL)
        except dns.exception.DNSException as exc:
            # Timeout, SERVFAIL (NoNameservers), a malformed reply: no answer now.
            raise DnsError(f"{name} {rdtype}: {exc.__class__.__name__}: {exc}") from exc
        if answer.rrset is None:
            return Answer((), _negative_ttl(answer.response))
        records = tuple(_record(rdata) for rdata in answer.rrset)
        return Answer(records, float(answer.rrset.ttl))


def _record(rdata: object) -> Record:
    if isinstance(rdata, TXT):
        return tuple(rdata.strings)
    if isinstance(rdata, MX):
        return (rdata.preference, rdata.exchange.to_text(omit_final_dot=True))
    if isinstance(rdata, PTR | CNAME):
        return rdata.target.to_text(omit_final_dot=True)
    return str(getattr(rdata, "address", rdata))  # A, AAAA


def _negative_ttl(response: object) -> float:
    for rrset in getattr(response, "authority", ()):
        if rrset.rdtype == dns.rdatatype.SOA:
            return float(min(rrset.ttl, rrset[0].minimum))
    return NEGATIVE_TTL
