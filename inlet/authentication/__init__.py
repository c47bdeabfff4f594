"""The authentication verdicts of a received message: SPF, DKIM, DMARC and ARC, computed at
parse time from the raw bytes and the complete envelope (design.md, "Parsed document fields").

`Authenticator` is the parse step's `Verdicts`: one per process, holding the DNS cache; each
message gets its own DNS budget on top of it.
"""

import logging
from collections.abc import Callable, Sequence
from email.utils import getaddresses
from typing import TypeVar

from inlet.authentication.dkim import check_arc, check_dkim
from inlet.authentication.dmarc import check_dmarc
from inlet.authentication.results import (
    ArcVerdict,
    Authentication,
    DkimVerdict,
    DmarcVerdict,
    SpfVerdict,
    results_header,
)
from inlet.authentication.spf import check_spf
from inlet.dns import Resolver
from inlet.dns.budget import PER_QUERY_SECONDS, TOTAL_SECONDS, BudgetedResolver
from inlet.envelope import Envelope

log = logging.getLogger(__name__)
T = TypeVar("T")


def authenticate(
    raw: bytes, envelope: Envelope, resolver: Resolver, *, authserv_id: str
) -> Authentication:
    """Every verdict of one message. DNS trouble is a temperror inside them; nothing raises
    for what a message or DNS holds."""
    fields = header_fields(raw)
    spf = _guarded(
        "spf",
        lambda: check_spf(envelope, resolver),
        SpfVerdict(result="permerror", domain=None, helo_result="permerror"),
        envelope,
    )
    unverified: list[DkimVerdict] = [DkimVerdict(result="permerror", domain=None, selector=None)]
    dkim = _guarded("dkim", lambda: check_dkim(raw, resolver), unverified, envelope)
    dmarc = _guarded(
        "dmarc",
        lambda: check_dmarc(from_domain(fields), spf, dkim, resolver),
        DmarcVerdict(result="permerror", policy=None, domain=None),
        envelope,
    )
    arc: ArcVerdict = {"result": "none", "chain_length": 0}
    if any(name == "arc-seal" for name, _ in fields):  # dkimpy's parse is not free
        arc = _guarded(
            "arc",
            lambda: check_arc(raw, resolver),
            ArcVerdict(result="permerror", chain_length=0),
            envelope,
        )
    header = results_header(
        authserv_id,
        spf=spf,
        mail_from=envelope.mail_from,
        helo=envelope.helo,
        dkim=dkim,
        dmarc=dmarc,
        arc=arc,
    )
    return {"spf": spf, "dkim": dkim, "dmarc": dmarc, "arc": arc, "header": header}


def _guarded(what: str, verdict: Callable[[], T], fallback: T, envelope: Envelope) -> T:
    """One verdict, or `fallback` (permerror) if its library raised on this message: a fault
    in one check must not cost the others, nor the document."""
    try:
        return verdict()
    except MemoryError:
        raise
    except Exception:
        log.exception("verdict raised", extra={"message_id": envelope.id, "verdict": what})
        return fallback


def header_fields(raw: bytes) -> list[tuple[str, str]]:
    """The message's header fields, unfolded, names lower-cased: the little the verdicts read
    themselves (dkimpy parses for its own). Bytes that are not UTF-8 are kept as surrogates."""
    end = raw.find(b"\r\n\r\n")
    end = raw.find(b"\n\n") if end < 0 else end
    head = (raw if end < 0 else raw[:end]).decode("utf-8", "surrogateescape")
    fields: list[tuple[str, str]] = []
    for line in head.splitlines():
        if line[:1] in (" ", "\t") and fields:
            name, value = fields[-1]
            fields[-1] = (name, value + line)
        elif ":" in line:
            name, _, value = line.partition(":")
            fields.append((name.strip().lower(), value))
    return fields


def from_domain(fields: Sequence[tuple[str, str]]) -> str | None:
    """The RFC5322.From domain DMARC holds to a policy: None unless every From address names
    the same one domain (RFC 7489 §6.6.1 leaves several to local policy; here, none apply)."""
    values = [value for name, value in fields if name == "from"]
    domains = {
        address.rpartition("@")[2].strip().rstrip(".>").lower()
        for _name, address in getaddresses(values)
        if "@" in address
    }
    if len(domains) != 1:
        return None
    (domain,) = domains
    return domain or None


class Authenticator:
    """The parse step's verdicts over one process-wide resolver (cached); each message's
    lookups bounded by its own budget."""

    def __init__(
        self,
        resolver: Resolver,
        *,
        authserv_id: str,
        total_seconds: float = TOTAL_SECONDS,
        per_query_seconds: float = PER_QUERY_SECONDS,
    ) -> None:
        self._resolver = resolver
        self._authserv_id = authserv_id
        self._total = total_seconds
        self._per_query = per_query_seconds

    def __call__(self, raw: Sequence[bytes], envelope: Envelope) -> Authentication:
        budget = BudgetedResolver(self._resolver, total=self._total, per_query=self._per_query)
        return authenticate(b"".join(raw), envelope, budget, authserv_id=self._authserv_id)
