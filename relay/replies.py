"""Every reply the relay composes itself and counts, in one table.

The CDK app's monitoring construct derives the accepted and refused codes from REPLIES (and a
test holds its alarms to them), so a reply added here cannot be forgotten there.
"""

from typing import Final

ACCEPTED: Final = "250 2.0.0 Ok: queued as {id}"

REFUSE_DOMAIN: Final = "550 5.7.1 Relaying denied: recipient domain not accepted here"
REFUSE_TOO_MANY: Final = "452 4.5.3 Too many recipients"
REFUSE_SIZE: Final = "552 5.3.4 Message size exceeds fixed maximum message size"
REFUSE_DRAINING: Final = "421 4.3.2 Service shutting down, try again later"
REFUSE_BUSY: Final = "421 4.7.0 Too many sessions, try again later"
REFUSE_STORAGE: Final = "451 4.3.0 Message not stored, try again later"
REFUSE_TIMEOUT: Final = "421 4.4.2 Timeout exceeded, closing connection"
# RFC 3207 §4: STARTTLS again once TLS is on is a bad sequence of commands.
REFUSE_TLS_AGAIN: Final = "503 5.5.1 TLS already active"
REFUSE_SIZE_SYNTAX: Final = "501 5.5.4 Syntax: SIZE=<decimal digits>"

REFUSALS: Final = (
    REFUSE_BUSY,
    REFUSE_DRAINING,
    REFUSE_TIMEOUT,
    REFUSE_STORAGE,
    REFUSE_TOO_MANY,
    REFUSE_DOMAIN,
    REFUSE_SIZE,
)
REPLIES: Final = (ACCEPTED, *REFUSALS)


def accepted(message_id: str) -> str:
    """The reply that acknowledges a stored message."""
    return ACCEPTED.format(id=message_id)


def code(reply: str) -> int:
    """The reply's three-digit code."""
    return int(reply[:3])
