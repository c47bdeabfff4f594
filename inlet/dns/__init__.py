"""The DNS port: the lookups the authentication verdicts make (SPF policies and the names they
point at, DKIM and ARC keys, DMARC records), and what wraps any resolver behind it.

An adapter answers one question, bounded by the timeout it is given. A missing name and a name
without records of the type are both an empty answer (SPF counts both as void lookups); any
failure to get an answer (a timeout, SERVFAIL, no resolver at all) is a DnsError, which the
verdicts report as `temperror`: a DNS fault never holds a message back.
"""

from dataclasses import dataclass
from typing import Literal, Protocol

from inlet.errors import TransientError

RecordType = Literal["A", "AAAA", "MX", "PTR", "TXT", "CNAME"]
RECORD_TYPES: tuple[RecordType, ...] = ("A", "AAAA", "MX", "PTR", "TXT", "CNAME")

# A, AAAA, PTR and CNAME: the address or the name (no trailing dot); MX: (preference, host);
# TXT: the record's character-strings, as sent (a long DKIM key is several).
Record = str | tuple[int, str] | tuple[bytes, ...]

# What a caller asks per question when it has no reason to ask otherwise; the per-message
# budget (inlet.dns.budget) bounds every question further.
LOOKUP_TIMEOUT = 5.0


class DnsError(TransientError):
    """No answer could be had now; asking later may give one."""


@dataclass(frozen=True, slots=True)
class Answer:
    records: tuple[Record, ...]
    ttl: float  # how long the answer may be kept, negative answers included

    def texts(self) -> list[bytes]:
        """A TXT answer's records, each one's character-strings joined (RFC 7208 §3.3,
        RFC 6376 §3.6.2.2)."""
        return [
            b"".join(part for part in record if isinstance(part, bytes))
            for record in self.records
            if isinstance(record, tuple)
        ]


class Resolver(Protocol):
    def lookup(self, name: str, rdtype: RecordType, *, timeout: float) -> Answer:
        """The records of `rdtype` at `name` (absolute; a trailing dot is optional), waiting at
        most `timeout` seconds. DnsError when there is no answer to be had."""
        ...


def normal_name(name: str) -> str:
    """The form names are compared and cached in: lower case, no trailing dot."""
    return name.rstrip(".").lower()
