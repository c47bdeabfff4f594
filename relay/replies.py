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
REFUSE_PER_IP: Final = "421 4.7.0 Too many sessions from your address, try again later"
REFUSE_TLS_REQUIRED: Final = "530 5.7.0 Must issue a STARTTLS command first"
# aiosmtpd's own wording for these two (it sends them itself; the relay counts them).
REFUSE_AUTH_REQUIRED: Final = "530 5.7.0 Authentication required"
REFUSE_BAD_COMMANDS: Final = "502 5.5.1 Too many unrecognized commands, goodbye."
REFUSE_AUTH_FAILED: Final = "535 5.7.8 Authentication credentials invalid"
# RFC 4954 §6: 454 is a temporary authentication failure; closing after it stops a guesser.
REFUSE_AUTH_LIMIT: Final = "454 4.7.0 Too many failed authentication attempts, try again later"
# RFC 5321 §4.2.3: 451 is "local error in processing" (an unexpected error of ours: retry).
REFUSE_LOCAL_ERROR: Final = "451 4.3.0 Local error in processing, try again later"
AUTH_OK: Final = "235 2.7.0 Authentication successful"
# RFC 3207 §4: STARTTLS again once TLS is on is a bad sequence of commands.
REFUSE_TLS_AGAIN: Final = "503 5.5.1 TLS already active"
REFUSE_SIZE_SYNTAX: Final = "501 5.5.4 Syntax: SIZE=<decimal digits>"

REFUSALS: Final = (
    REFUSE_BUSY,
    REFUSE_PER_IP,
    REFUSE_DRAINING,
    REFUSE_TIMEOUT,
    REFUSE_STORAGE,
    REFUSE_TOO_MANY,
    REFUSE_DOMAIN,
    REFUSE_SIZE,
    REFUSE_TLS_REQUIRED,
    REFUSE_AUTH_REQUIRED,
    REFUSE_AUTH_FAILED,
    REFUSE_AUTH_LIMIT,
    REFUSE_BAD_COMMANDS,
    REFUSE_LOCAL_ERROR,
    REFUSE_TLS_AGAIN,
    REFUSE_SIZE_SYNTAX,
)
REPLIES: Final = (ACCEPTED, *REFUSALS)


def accepted(message_id: str) -> str:
    """The reply that acknowledges a stored message."""
    return ACCEPTED.format(id=message_id)


def code(reply: str) -> int:
    """The reply's three-digit code."""
    return int(reply[:3])
