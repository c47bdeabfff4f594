"""The SMTP envelope stored with every message, and its two stored forms.

The complete form is JSON. S3 user metadata holds at most 2 KB, so the compact form (the same
JSON, ASCII-escaped, in one metadata value) is used only when it fits; otherwise the envelope is
a separate object and the metadata points at it. Readers always get the complete envelope.
"""

import json
from dataclasses import asdict, dataclass, field
from typing import Any

ENVELOPE_META = "inlet-envelope"
ENVELOPE_KEY_META = "inlet-envelope-key"
ID_META = "inlet-id"
# S3 counts key and value bytes of all user metadata against 2048; leave room for the id entry.
METADATA_BUDGET = 2048 - len(ID_META) - 26 - len(ENVELOPE_META) - 64


@dataclass(frozen=True, slots=True)
class TlsInfo:
    version: str
    cipher: str


@dataclass(frozen=True, slots=True)
class Envelope:
    id: str
    received_at: str
    mail_from: str
    rcpt_to: list[str]
    helo: str | None
    client_ip: str | None
    client_port: int | None
    proxied_from: str | None
    tls: TlsInfo | None
    auth_user: str | None
    size: int
    sha256: str
    relay: str
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if not data["extra"]:
            del data["extra"]
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Envelope":
        tls = data.get("tls")
        return cls(
            id=data["id"],
            received_at=data["received_at"],
            mail_from=data["mail_from"],
            rcpt_to=list(data["rcpt_to"]),
            helo=data.get("helo"),
            client_ip=data.get("client_ip"),
            client_port=data.get("client_port"),
            proxied_from=data.get("proxied_from"),
            tls=TlsInfo(**tls) if tls else None,
            auth_user=data.get("auth_user"),
            size=int(data["size"]),
            sha256=data["sha256"],
            relay=data["relay"],
            extra=dict(data.get("extra") or {}),
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> "Envelope":
        return cls.from_dict(json.loads(text))


def compact_metadata(envelope: Envelope) -> dict[str, str] | None:
    """The envelope as S3 user metadata, or None when it would not fit in full."""
    text = envelope.to_json()
    if len(text) > METADATA_BUDGET:
        return None
    return {ID_META: envelope.id, ENVELOPE_META: text}
