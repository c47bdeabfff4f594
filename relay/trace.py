"""The Received: trace header the relay prepends (RFC 5321 §4.4)."""

from datetime import datetime
from email.utils import format_datetime

# Characters a client could use to inject header lines or break the trace header's syntax.
_UNSAFE = str.maketrans({c: "?" for c in "\r\n()\\;"})


def _clean(text: str) -> str:
    return text.translate(_UNSAFE)[:255]


def received_header(
    *,
    helo: str | None,
    client_ip: str | None,
    by_host: str,
    protocol: str,
    message_id: str,
    rcpt_to: list[str],
    when: datetime,
) -> bytes:
    """The header as bytes, folded, ending in CRLF. `for` is named only for one recipient,
    so a copy never discloses the other recipients of the same transaction."""
    source = f"{_clean(helo) if helo else 'unknown'} ([{_clean(client_ip or 'unknown')}])"
    lines = [
        f"Received: from {source}",
        f"\tby {_clean(by_host)} (Inlet) with {protocol} id {message_id}",
    ]
    if len(rcpt_to) == 1:
        lines.append(f"\tfor <{_clean(rcpt_to[0])}>")
    lines[-1] += ";"
    lines.append(f"\t{format_datetime(when)}")
    return ("\r\n".join(lines) + "\r\n").encode("utf-8", "surrogateescape")


def protocol_name(*, esmtp: bool, tls: bool, auth: bool) -> str:
    """The `with` keyword per RFC 3848: SMTP, ESMTP, ESMTPS, ESMTPA, ESMTPSA."""
    if not esmtp:
        return "SMTP"
    return "ESMTP" + ("S" if tls else "") + ("A" if auth else "")
