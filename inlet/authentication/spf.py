"""SPF (RFC 7208) with pyspf, its DNS through the port.

pyspf asks DNS through one module-level function, `spf.DNSLookup`, with no way to pass a
resolver per check; it is set once, here, to one that asks the resolver of the check running
in this context (a ContextVar, so concurrent checks in threads or tasks each use their own).
The check's own cache, the lookup limit (10) and the void-lookup limit (2) stay pyspf's.
"""

import ipaddress
from contextvars import ContextVar
from typing import Any, get_args

import spf as pyspf

from inlet.authentication.results import Result, SpfVerdict
from inlet.dns import RECORD_TYPES, DnsError, Resolver
from inlet.envelope import Envelope

_resolver: ContextVar[Resolver | None] = ContextVar("inlet_spf_resolver", default=None)
_RESULTS: frozenset[str] = frozenset(get_args(Result))


def _lookup(name: str, qtype: str, strict: object = True, timeout: float = 20) -> list[Any]:
    """pyspf's DNSLookup: [((name, type), value), …] as its dnspython flavour returns them."""
    resolver = _resolver.get()
    if resolver is None:
        raise pyspf.TempError("DNS: no resolver for this check")
    if qtype not in RECORD_TYPES:
        return []  # type 99 (SPF), asked only in pyspf's "harsh" mode: RFC 7208 retired it
    try:
        answer = resolver.lookup(name, qtype, timeout=float(timeout))
    except DnsError as exc:
        raise pyspf.TempError(f"DNS {exc}") from exc
    return [((name, qtype), value) for value in answer.records]


pyspf.DNSLookup = _lookup


def check_spf(envelope: Envelope, resolver: Resolver) -> SpfVerdict:
    """MAIL FROM's verdict (HELO's for the null sender) and HELO's own."""
    helo = (envelope.helo or "").strip()
    helo_domain = helo if _is_domain(helo) else None
    ip = client_address(envelope)
    helo_result: Result = (
        _check(ip, f"postmaster@{helo_domain}", helo_domain, resolver) if helo_domain else "none"
    )
    mail_from = envelope.mail_from
    if not mail_from:
        return {"result": helo_result, "domain": helo_domain, "helo_result": helo_result}
    domain = mail_from.rpartition("@")[2].rstrip(".").lower() or None
    result = _check(ip, mail_from, helo or "unknown", resolver) if domain else "none"
    return {"result": result, "domain": domain, "helo_result": helo_result}


def client_address(envelope: Envelope) -> str | None:
    """The sending host's address: the PROXY header's source when the relay is behind a load
    balancer (`proxied_from` is `<ip>:<port>`), else the TCP peer."""
    if envelope.proxied_from:
        return envelope.proxied_from.rsplit(":", 1)[0].strip("[]")
    return envelope.client_ip


def _check(ip: str | None, sender: str, helo: str, resolver: Resolver) -> Result:
    if not ip or not _is_ip(ip):
        return "none"  # no client address (a message not received over SMTP): nothing to check
    token = _resolver.set(resolver)
    try:
        result, _code, _explanation = pyspf.query(i=ip, s=sender, h=helo, strict=True).check()
    except (pyspf.TempError, DnsError):
        return "temperror"
    finally:
        _resolver.reset(token)
    # pyspf's result words are RFC 7208's; anything else would be a pyspf change, not a pass.
    return result if result in _RESULTS else "permerror"


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _is_domain(text: str) -> bool:
    """A HELO name SPF can check: a dotted name, not an address literal ([192.0.2.1])."""
    return "." in text and not text.startswith("[") and not _is_ip(text)
