"""DMARC (RFC 7489): policy discovery for the RFC5322.From domain, identifier alignment of the
SPF and DKIM results, and the policy that applies (p, or sp for a subdomain).

Our own evaluator, over the Public Suffix List of the `publicsuffixlist` package (kept current
by its releases, which are named for the list's date): the Python libraries that do DMARC
either check a domain's posture rather than a received message (checkdmarc) or find the
organizational domain with a copy of the list of their own (authheaders);
docs/authentication.md has the details.
"""

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from publicsuffixlist import PublicSuffixList

from inlet.authentication.results import DkimVerdict, DmarcVerdict, SpfVerdict
from inlet.dns import LOOKUP_TIMEOUT, DnsError, Resolver

Policy = Literal["none", "quarantine", "reject"]
Alignment = Literal["r", "s"]
_POLICIES: tuple[Policy, ...] = ("none", "quarantine", "reject")


@dataclass(frozen=True, slots=True)
class DmarcRecord:
    policy: Policy
    subdomain_policy: Policy | None
    dkim_alignment: Alignment
    spf_alignment: Alignment


class RecordError(ValueError):
    """A published record that is not a valid DMARC record (RFC 7489 §6.3)."""


@functools.cache
def _psl() -> PublicSuffixList:
    return PublicSuffixList()  # the package's bundled list: no network


def organizational_domain(domain: str) -> str:
    """RFC 7489 §3.2: the public suffix plus one label; a public suffix is its own."""
    name = domain.rstrip(".").lower()
    return _psl().privatesuffix(name) or name


def aligned(identifier: str | None, from_domain: str, mode: Alignment) -> bool:
    if not identifier:
        return False
    a, b = identifier.rstrip(".").lower(), from_domain.rstrip(".").lower()
    if mode == "s":
        return a == b
    return organizational_domain(a) == organizational_domain(b)


def parse_record(text: str) -> DmarcRecord:
    """A `v=DMARC1; p=…` record. RecordError for a missing or bad p= (one with rua= reports
    only, so it stands as p=none, §6.6.3) or a bad sp=, adkim= or aspf=."""
    tags: dict[str, str] = {}
    for item in text.split(";"):
        name, sep, value = item.partition("=")
        if sep:
            tags.setdefault(name.strip().lower(), value.strip())
    if tags.get("v") != "DMARC1" or not text.strip().lower().startswith("v"):
        raise RecordError("not a DMARC1 record")
    policy = tags.get("p", "").lower()
    if policy not in _POLICIES:
        if "rua" not in tags:
            raise RecordError(f"p={policy!r} is not none, quarantine or reject")
        policy = "none"
    sub = tags.get("sp", "").lower() or None
    if sub is not None and sub not in _POLICIES:
        raise RecordError(f"sp={sub!r} is not none, quarantine or reject")
    adkim, aspf = tags.get("adkim", "r").lower(), tags.get("aspf", "r").lower()
    if adkim not in ("r", "s") or aspf not in ("r", "s"):
        raise RecordError("adkim= and aspf= must be r or s")
    return DmarcRecord(
        policy=_policy(policy),
        subdomain_policy=_policy(sub) if sub else None,
        dkim_alignment="s" if adkim == "s" else "r",
        spf_alignment="s" if aspf == "s" else "r",
    )


def check_dmarc(
    from_domain: str | None,
    spf: SpfVerdict,
    dkim: Sequence[DkimVerdict],
    resolver: Resolver,
) -> DmarcVerdict:
    """`from_domain` None: the message has no single From domain to hold to a policy."""
    if not from_domain:
        return {"result": "none", "policy": None, "domain": None}
    domain = from_domain.rstrip(".").lower()
    try:
        found = _discover(domain, resolver)
    except DnsError:
        return {"result": "temperror", "policy": None, "domain": domain}
    except RecordError:
        return {"result": "permerror", "policy": None, "domain": domain}
    if found is None:
        return {"result": "none", "policy": None, "domain": domain}
    record, at_organization = found
    policy = record.policy
    if at_organization:
        policy = record.subdomain_policy or record.policy
    spf_ok = spf["result"] == "pass" and aligned(spf["domain"], domain, record.spf_alignment)
    dkim_ok = any(
        signature["result"] == "pass"
        and aligned(signature["domain"], domain, record.dkim_alignment)
        for signature in dkim
    )
    return {"result": "pass" if spf_ok or dkim_ok else "fail", "policy": policy, "domain": domain}


def _discover(domain: str, resolver: Resolver) -> tuple[DmarcRecord, bool] | None:
    """The record at _dmarc.<From domain>, else at _dmarc.<organizational domain> (§6.6.3);
    True when it came from the latter for a subdomain (so sp= applies)."""
    record = _record_at(domain, resolver)
    if record is not None:
        return record, False
    organization = organizational_domain(domain)
    if organization == domain:
        return None
    record = _record_at(organization, resolver)
    return (record, True) if record is not None else None


def _record_at(domain: str, resolver: Resolver) -> DmarcRecord | None:
    answer = resolver.lookup(f"_dmarc.{domain}", "TXT", timeout=LOOKUP_TIMEOUT)
    texts = [t.decode("utf-8", "replace") for t in answer.texts()]
    records = [t for t in texts if t.strip().lower().startswith("v=dmarc1")]
    if not records:
        return None
    if len(records) > 1:
        raise RecordError(f"_dmarc.{domain} publishes {len(records)} DMARC records")
    return parse_record(records[0].strip())


def _policy(text: str) -> Policy:
    for policy in _POLICIES:
        if policy == text:
            return policy
    raise RecordError(f"{text!r} is not a policy")
