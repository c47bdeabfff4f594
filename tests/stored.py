"""Putting messages into a store the way the relay does, without SMTP (for pipeline tests)."""

from datetime import UTC, datetime

from inlet.blobstore import BlobStore
from inlet.envelope import Envelope
from inlet.ids import mint_id
from inlet.ingest import IncomingMessage


def store_message(
    store: BlobStore,
    raw: bytes,
    *,
    rcpt_to: list[str] | None = None,
    mail_from: str = "sender@example.org",
    at: datetime | None = None,
) -> Envelope:
    when = at or datetime.now(UTC)
    message_id = mint_id(int(when.timestamp() * 1000))
    incoming = IncomingMessage(store, message_id)
    incoming.write(raw)

    def build(size: int, sha256: str) -> Envelope:
        return Envelope(
            id=message_id,
            received_at=when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            mail_from=mail_from,
            rcpt_to=rcpt_to or ["rcpt@example.com"],
            helo="client.example.org",
            client_ip="127.0.0.1",
            client_port=40000,
            proxied_from=None,
            tls=None,
            auth_user=None,
            size=size,
            sha256=sha256,
            relay="test",
        )

    return incoming.commit(build)
