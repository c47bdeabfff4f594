"""The SMTP envelope stored with every message, and its JSON form.

A session knows everything about a message but its stored bytes until DATA ends: it fills an
EnvelopeDraft, and the message store completes it with the size and digest of what it stored.
Where the envelope is kept (object metadata or an object of its own) is the message store's
business (inlet.message_store).
"""

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any, NotRequired, TypedDict, cast


class TlsJson(TypedDict):
    version: str
    cipher: str


class EnvelopeJson(TypedDict):
    """The envelope as stored and as it appears in the parsed document."""

    id: str
    received_at: str
    mail_from: str
    rcpt_to: list[str]
    helo: str | None
    client_ip: str | None
    client_port: int | None
    proxied_from: str | None
    tls: TlsJson | None
    auth_user: str | None
    size: int
    sha256: str
    relay: str
    extra: NotRequired[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class TlsInfo:
    version: str
    cipher: str


@dataclass(frozen=True, slots=True)
class EnvelopeDraft:
    """What the SMTP session knows of a message before its bytes are stored."""

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
    relay: str

    def complete(self, *, size: int, sha256: str) -> "Envelope":
        """The envelope of the stored message: `size` and `sha256` describe the stored bytes."""
        known = {f.name: getattr(self, f.name) for f in fields(self)}
        return Envelope(**known, size=size, sha256=sha256)


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

    def to_dict(self) -> EnvelopeJson:
        data = asdict(self)
        if not data["extra"]:
            del data["extra"]
        return cast(EnvelopeJson, data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: EnvelopeJson | dict[str, Any]) -> "Envelope":
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
