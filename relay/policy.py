"""Who may send to whom: pure decisions the SMTP handler turns into replies."""

POSTMASTER = "postmaster"

REFUSE_DOMAIN = "550 5.7.1 Relaying denied: recipient domain not accepted here"
REFUSE_TOO_MANY = "452 4.5.3 Too many recipients"
REFUSE_SIZE = "552 5.3.4 Message size exceeds fixed maximum message size"
REFUSE_DRAINING = "421 4.3.2 Service shutting down, try again later"
REFUSE_BUSY = "421 4.7.0 Too many sessions, try again later"
REFUSE_STORAGE = "451 4.3.0 Message not stored, try again later"


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
