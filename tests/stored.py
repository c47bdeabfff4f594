"""Putting messages into a store the way the relay does, without SMTP (for pipeline tests)."""

from datetime import UTC, datetime

from inlet.blobstore import BlobStore
from inlet.envelope import Envelope
from inlet.ids import mint_id
from inlet.message_store import MessageStore
from tests.builders import make_draft, rfc3339


def store_message(
    store: BlobStore | MessageStore,
    raw: bytes,
    *,
    rcpt_to: list[str] | None = None,
    mail_from: str = "sender@example.org",
    at: datetime | None = None,
) -> Envelope:
    messages = store if isinstance(store, MessageStore) else MessageStore(store)
    when = at or datetime.now(UTC)
    incoming = messages.begin(mint_id(int(when.timestamp() * 1000)))
    incoming.write(raw)
    return incoming.commit(
        make_draft(
            id=incoming.id,
            received_at=rfc3339(when),
            mail_from=mail_from,
            rcpt_to=rcpt_to or ["rcpt@example.com"],
            helo="client.example.org",
            client_ip="127.0.0.1",
            tls=None,
            relay="test",
        )
    )
