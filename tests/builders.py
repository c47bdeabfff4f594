"""Builders of the envelopes and documents tests need, in one place.

- `make_envelope(**overrides)`: an `Envelope` as the relay would store it;
- `make_draft(**overrides)`: the `EnvelopeDraft` of the same message (before it is stored);
- `make_document(message_id=None, *, ..., **fields)`: a parsed document (the shape of
  `inlet.document.Document`, docs/parsed-document.schema.json), as a plain dict to change.

Every value is a fixed, valid default (documentation addresses, RFC 3339 times, real ids) that
any keyword overrides; unknown names are a TypeError, so a typo cannot pass unnoticed.
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from inlet.envelope import Envelope, EnvelopeDraft, TlsInfo
from inlet.ids import id_time, mint_id
from inlet.parsing.document import FIELDS, blank_document

RECEIVED = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
# The id make_envelope() and make_draft() use unless given one: minted at RECEIVED.
ENVELOPE_ID = mint_id(int(RECEIVED.timestamp() * 1000))


def rfc3339(when: datetime) -> str:
    """An instant as Inlet writes its own: UTC, milliseconds, "Z"."""
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _draft_fields(overrides: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "id": ENVELOPE_ID,
        "mail_from": "sender@example.org",
        "rcpt_to": ["user@example.com", "other@example.com"],
        "helo": "mx.example.org",
        "client_ip": "192.0.2.1",
        "client_port": 40000,
        "proxied_from": None,
        "tls": TlsInfo("TLSv1.3", "TLS_AES_256_GCM_SHA384"),
        "auth_user": None,
        "relay": "relay-1",
    }
    fields.update(overrides)
    if "received_at" not in fields:
        fields["received_at"] = rfc3339(id_time(fields["id"]))  # the id encodes its time
    return fields


def make_draft(**overrides: Any) -> EnvelopeDraft:
    """What a session knows of a message before its bytes are stored (no size, no digest).
    `received_at` follows `id` unless given."""
    return EnvelopeDraft(**_draft_fields(overrides))


def make_envelope(**overrides: Any) -> Envelope:
    """A complete envelope; the same defaults as make_draft, plus size 1234 and a digest.
    `received_at` follows `id` unless given; `extra` is empty unless given."""
    fields = _draft_fields({"size": 1234, "sha256": "ab" * 32, **overrides})
    return Envelope(**fields)


def make_document(
    message_id: str | None = None,
    *,
    status: Literal["stored", "parsed", "quarantined"] = "parsed",
    mail_from: str = "sender@example.org",
    rcpt_to: Sequence[str] = ("rcpt@example.com",),
    header_from: Sequence[str] = ("Author@Example.org",),
    to: Sequence[str] = ("rcpt@example.com",),
    cc: Sequence[str] = (),
    header_id: str | None = "<abc.123@mail.example.org>",
    subject: str | None = "Hello",
    size: int = 1234,
    **fields: Any,
) -> dict[str, Any]:
    """A document as the parse step writes it, of a message with a fresh id (minted now) unless
    `message_id` is given. "stored" and "quarantined" ones carry only the envelope-derived
    fields: the header fields given here (From, To, Cc, Message-ID, Subject) are left out.

    `fields` set any other document field as it is (`reason`, `text`, `attachments`, ...,
    even `envelope`), after everything else."""
    unknown = set(fields) - set(FIELDS)
    if unknown:
        raise TypeError(f"make_document() got fields a document does not have: {sorted(unknown)}")
    message_id = message_id or mint_id()
    envelope = make_envelope(id=message_id, mail_from=mail_from, rcpt_to=list(rcpt_to), size=size)
    parsed = status == "parsed"
    done = rfc3339(id_time(message_id) + timedelta(seconds=1))

    def addresses(values: Sequence[str]) -> list[dict[str, str]]:
        return [{"name": "", "address": a} for a in values] if parsed else []

    document: dict[str, Any] = dict(blank_document(envelope, status))
    document.update(
        {
            "reason": "unreadable message: test" if status == "quarantined" else None,
            "message_id": header_id if parsed else None,
            "subject": subject if parsed else None,
            "from": addresses(header_from),
            "to": addresses(to),
            "cc": addresses(cc),
            "parsed_at": None if status == "stored" else done,
        }
    )
    document.update(fields)
    return document
