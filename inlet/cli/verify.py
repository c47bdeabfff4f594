"""`inlet verify`: after a deploy (or against `inlet up`), send one tagged message and follow it
through every stage, printing each with its latency from the start of the send.

Stages: `accepted` (the relay's `250`), `stored` (the raw object is in the message store),
`parsed` (its document is written), `searchable` (the index finds it by its Message-ID and by
the recipient). A stage that does not finish before the deadline fails the command (exit 1)
with its name; the stages after it are not tried.
"""

import smtplib
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from inlet.errors import InletError
from inlet.ids import is_valid_id
from inlet.index import Index
from inlet.message_store import MessageStore

POLL_SECONDS = 0.1
STAGES = ("accepted", "stored", "parsed", "searchable")


class VerifyFailed(InletError):
    """A stage did not finish: the message names it."""


def verify(
    messages: MessageStore,
    index: Index,
    *,
    host: str,
    port: int,
    to: str,
    timeout: float,
    out: Callable[[str], None] = print,
) -> str:
    """Send one message to `to` through `host:port` and wait until it is searchable; the id it
    was queued as. VerifyFailed names the first stage that did not finish in `timeout`."""
    started = time.monotonic()
    deadline = started + timeout
    token = f"{int(time.time())}-{socket.gethostname()}"
    header_id = make_msgid(idstring=f"inlet-verify-{token}", domain="inlet.invalid")

    def done(stage: str, detail: str) -> None:
        out(f"{stage:<11} {(time.monotonic() - started) * 1000:8.1f} ms  {detail}")

    message_id = _send(host, port, to, header_id, token, deadline)
    done("accepted", f"250 queued as {message_id}")

    _wait("stored", deadline, lambda: messages.exists(message_id))
    done("stored", "raw message and envelope in the store")

    def parsed() -> bool:
        document = messages.load_document(message_id)
        if document is not None and document["status"] == "quarantined":
            raise VerifyFailed(f"stage 'parsed': quarantined: {document['reason']}")
        return document is not None

    _wait("parsed", deadline, parsed)
    done("parsed", "document written")

    def searchable() -> bool:
        by_id = index.search("message_id", header_id).entries
        by_to = index.search("to", to, limit=100).entries
        return any(e.id == message_id for e in by_id) and any(e.id == message_id for e in by_to)

    _wait("searchable", deadline, searchable)
    done("searchable", f"found by Message-ID and by {to}")
    return message_id


def _send(host: str, port: int, to: str, header_id: str, token: str, deadline: float) -> str:
    email = EmailMessage()
    email["From"] = "inlet-verify@inlet.invalid"
    email["To"] = to
    email["Subject"] = f"inlet verify {token}"
    email["Message-ID"] = header_id
    email["Date"] = format_datetime(datetime.now(UTC))
    email.set_content("Sent by `inlet verify` to check that mail flows. It can be deleted.\n")
    seconds = max(1.0, deadline - time.monotonic())
    try:
        with smtplib.SMTP(host, port, timeout=seconds) as client:
            client.ehlo_or_helo_if_needed()
            client.mail("inlet-verify@inlet.invalid")
            code, text = client.rcpt(to)
            if code != 250:
                why = text.decode("utf-8", "replace")
                raise VerifyFailed(f"stage 'accepted': RCPT TO <{to}> refused: {code} {why}")
            code, text = client.data(email.as_bytes())
    except (OSError, smtplib.SMTPException) as exc:
        raise VerifyFailed(f"stage 'accepted': SMTP to {host}:{port} failed: {exc}") from exc
    reply = text.decode("utf-8", "replace")
    queued = reply.rsplit(" ", 1)[-1]
    if code != 250 or not is_valid_id(queued):
        raise VerifyFailed(f"stage 'accepted': DATA answered {code} {reply!r}")
    return queued


def _wait(stage: str, deadline: float, ready: Callable[[], bool]) -> None:
    """Poll `ready` until it holds; VerifyFailed past the deadline. Storage faults while
    polling count as "not yet" (the deadline bounds them), and the last one is reported."""
    last_error: InletError | None = None
    while True:
        try:
            if ready():
                return
        except VerifyFailed:
            raise
        except InletError as exc:
            last_error = exc
        if time.monotonic() >= deadline:
            why = f" (last error: {last_error})" if last_error else ""
            raise VerifyFailed(f"stage '{stage}': not finished before the timeout{why}")
        time.sleep(POLL_SECONDS)
