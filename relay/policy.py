"""Who may send to whom: pure decisions the SMTP handler turns into replies."""

from relay.replies import REFUSE_DOMAIN, REFUSE_TOO_MANY

POSTMASTER = "postmaster"


def normalise_domain(domain: str) -> str:
    """Lower-case, no trailing dot, IDNA (so a U-label and its A-label compare equal)."""
    domain = domain.strip().rstrip(".").lower()
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        return domain


def recipient_refusal(address: str, accepted: frozenset[str], count: int, limit: int) -> str | None:
    """The reply refusing `address` as recipient number `count + 1`, or None to accept it.

    The bare postmaster mailbox must be accepted (RFC 5321 §4.5.1); otherwise the domain must
    be one of `accepted` (normalised): never an open relay."""
    if count >= limit:
        return REFUSE_TOO_MANY
    local, at, domain = address.rpartition("@")
    if not at:
        return None if address.lower() == POSTMASTER else REFUSE_DOMAIN
    if not local or normalise_domain(domain) not in accepted:
        return REFUSE_DOMAIN
    return None
