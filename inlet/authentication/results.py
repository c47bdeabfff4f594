"""The verdicts' shapes (the document's `authentication`, design.md) and the
Authentication-Results header they make (RFC 8601)."""

import re
from typing import Literal, TypedDict

# RFC 8601 §2.7's result words, as the document carries them.
Result = Literal["pass", "fail", "softfail", "neutral", "none", "temperror", "permerror"]


class SpfVerdict(TypedDict):
    result: Result  # of the MAIL FROM identity; of HELO for the null sender
    domain: str | None  # the domain checked: MAIL FROM's, or the HELO name for the null sender
    helo_result: Result  # the HELO identity's own check (RFC 7208 §2.3)


class DkimVerdict(TypedDict):
    result: Result  # "fail" also when the body hash does not match
    domain: str | None  # d=, None when the signature is too broken to say
    selector: str | None  # s=


class DmarcVerdict(TypedDict):
    result: Result
    policy: Literal["none", "quarantine", "reject"] | None  # p (or sp for a subdomain) found
    domain: str | None  # the RFC5322.From domain


class ArcVerdict(TypedDict):
    result: Result  # the chain validation status (cv) of the newest set
    chain_length: int  # ARC sets on the message, 0 when none


class Authentication(TypedDict):
    spf: SpfVerdict
    dkim: list[DkimVerdict]
    dmarc: DmarcVerdict
    arc: ArcVerdict
    header: str  # the Authentication-Results value Inlet would add


_TOKEN = re.compile(r"^[A-Za-z0-9!#$%&'*+\-./=?^_`{|}~@]+$")


def results_header(
    authserv_id: str,
    *,
    spf: SpfVerdict,
    mail_from: str,
    helo: str | None,
    dkim: list[DkimVerdict],
    dmarc: DmarcVerdict,
    arc: ArcVerdict,
) -> str:
    """`authserv-id; spf=… smtp.mailfrom=…; dkim=… header.d=… header.s=…; dmarc=… header.from=…;
    arc=…`, one resinfo per DKIM signature (`dkim=none` when unsigned)."""
    parts = [authserv_id]
    spf_part = f"spf={spf['result']}"
    if mail_from:
        spf_part += f" smtp.mailfrom={_value(mail_from)}"
    elif helo:
        spf_part += f" smtp.helo={_value(helo)}"
    parts.append(spf_part)
    if not dkim:
        parts.append("dkim=none")
    for signature in dkim:
        part = f"dkim={signature['result']}"
        if signature["domain"]:
            part += f" header.d={_value(signature['domain'])}"
        if signature["selector"]:
            part += f" header.s={_value(signature['selector'])}"
        parts.append(part)
    dmarc_part = f"dmarc={dmarc['result']}"
    if dmarc["policy"]:
        dmarc_part += f" (p={dmarc['policy']})"
    if dmarc["domain"]:
        dmarc_part += f" header.from={_value(dmarc['domain'])}"
    parts.append(dmarc_part)
    parts.append(f"arc={arc['result']}")
    return "; ".join(parts)


def _value(text: str) -> str:
    """A property value: a token as is, anything else as a quoted string (RFC 2045 `value`)."""
    if _TOKEN.match(text):
        return text
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
