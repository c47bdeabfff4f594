"""aiosmtpd's SMTP with a streamed DATA phase.

Stock aiosmtpd reads DATA line by line and joins the whole message in memory. Here DATA is read
in large chunks and unstuffed as it arrives (relay.datastream); a MessageWriter (relay.writer)
batches the content into the message store under the process-wide memory budget and the size
limit. The reply comes only after the store confirmed the complete message. The protocol knows
the message store, never a concrete blob store.
"""

import asyncio
import logging
import time
from typing import Any

from aiosmtpd.smtp import SMTP, syntax

from inlet.envelope import Envelope, EnvelopeDraft, TlsInfo
from inlet.ids import mint_id
from inlet.message_store import IncomingMessage
from relay import replies
from relay.config import RelayConfig
from relay.datastream import DataScanner
from relay.services import RelayServices
from relay.state import RelayState
from relay.trace import protocol_name, received_header
from relay.writer import MessageWriter, NotStored, Refusal, TooLarge

log = logging.getLogger(__name__)

READ_SIZE = 64 * 1024


class DataTimeout(Exception):
    """The DATA phase outlasted INLET_DATA_TIMEOUT."""


class InletSMTP(SMTP):
    # Also the StreamReader's limit, which sets its flow-control window: large enough for
    # DATA chunks, small enough to bound per-connection buffering.
    line_length_limit = 32 * 1024

    def __init__(
        self,
        handler: Any,
        *,
        config: RelayConfig,
        state: RelayState,
        services: RelayServices,
        **kwargs: Any,
    ) -> None:
        super().__init__(handler, data_size_limit=config.max_message_size, **kwargs)
        # No AUTH mechanism is offered (EHLO does not advertise it): HELP must not list it,
        # and AUTH is then an unrecognised command like any other.
        self._smtp_methods.pop("AUTH", None)
        self.config = config
        self.state = state
        self.services = services

    # -- session admission -------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self not in self.state.sessions:
            self.state.sessions.add(self)
            self.services.metrics.session_opened()
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        self.state.sessions.discard(self)
        super().connection_lost(error)

    async def _handle_client(self) -> None:
        refusal = self.state.admission_refusal(self.config.max_sessions)
        if refusal is not None:
            await self._answer(refusal)
            assert self.transport is not None
            self.transport.close()
            return
        await super()._handle_client()

    def _timeout_cb(self) -> None:
        """Idle too long (between commands, or within DATA): say so before closing (RFC 5321
        §4.5.3.2 lets the server close; a 421 tells the sender to try again)."""
        if self.transport is None or self.transport.is_closing():
            return
        self.services.metrics.reply(replies.code(replies.REFUSE_TIMEOUT))
        self._writer.write(replies.REFUSE_TIMEOUT.encode("ascii") + b"\r\n")
        self.transport.close()

    def close_idle(self) -> None:
        """Tell a session that is not in DATA that we are going away (RFC 5321 §3.8)."""
        if self in self.state.in_data or self.transport is None:
            return
        self._writer.write(replies.REFUSE_DRAINING.encode("ascii") + b"\r\n")
        self.transport.close()

    # -- MAIL: enforce SIZE= with an enhanced status code ------------------------------

    async def smtp_MAIL(self, arg: str | None) -> None:
        if arg:
            for param in arg.upper().split()[1:]:
                name, _, value = param.partition("=")
                if name != "SIZE":
                    continue
                # RFC 1870: size-value is 1*20DIGIT, ASCII digits only (str.isdigit takes
                # "²" and int() then fails).
                if not (value.isascii() and value.isdigit() and len(value) <= 20):
                    await self._answer(replies.REFUSE_SIZE_SYNTAX)
                    return
                if int(value) > self.config.max_message_size:
                    await self._answer(replies.REFUSE_SIZE)
                    return
        await super().smtp_MAIL(arg)

    async def smtp_STARTTLS(self, arg: str) -> None:
        if self._tls_protocol is not None:
            await self._answer(replies.REFUSE_TLS_AGAIN)
            return
        await super().smtp_STARTTLS(arg)

    async def _answer(self, reply: str) -> None:
        """Send one of the replies of relay.replies, counted by its code."""
        self.services.metrics.reply(replies.code(reply))
        await self.push(reply)

    # -- DATA, streamed ------------------------------------------------------------------

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:
        if await self.check_helo_needed():
            return
        if await self.check_auth_needed("DATA"):
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        self.state.data_started(self)
        self._data_deadline = time.monotonic() + self.config.data_timeout
        try:
            reply = await self._receive()
        except DataTimeout:
            # Nothing was stored (leaving the writer by an exception aborted the message).
            self._timeout_cb()
            return
        finally:
            self.state.data_ended(self)
        self._set_post_data_state()  # type: ignore[no-untyped-call]
        await self._answer(reply)
        if self.state.draining:
            self.close_idle()

    async def _receive(self) -> str:
        """Read DATA to its end while storing it; the reply for what became of the message."""
        s = self.services
        message = s.messages.begin(mint_id())
        writer = MessageWriter(message, s.budget, s.executor, limit=self.config.max_message_size)
        with writer:  # leaving it by an exception aborts the message
            await writer.add_header(self._trace_header(message))
            started = time.monotonic()
            scanner = DataScanner()
            while not scanner.done:
                content = self._scan(scanner, await self._read_chunk())
                await writer.add(content, last=scanner.done)
            self._reset_timeout()
            outcome = await writer.finish(
                self._envelope_draft(message), deadline=self.config.store_timeout
            )
        return self._reply(message, outcome, time.monotonic() - started)

    async def _read_chunk(self) -> bytes:
        chunk = await self._reader.read(READ_SIZE)
        if not chunk:
            raise ConnectionResetError("connection closed during DATA")
        # aiosmtpd restarts its idle timer only per command; a large message from a slow
        # sender is activity too (RFC 5321 §4.5.3.2.5 times each data block), but only until
        # the DATA phase's own deadline: a trickle cannot hold a session for ever.
        remaining = self._data_deadline - time.monotonic()
        if remaining <= 0:
            raise DataTimeout
        self._reset_timeout(min(self._timeout_duration, remaining))
        return chunk

    def _scan(self, scanner: DataScanner, chunk: bytes) -> bytes | memoryview:
        content, leftover = scanner.feed(chunk)
        if leftover:
            # Pipelined commands after the end of data belong to the session again: put them
            # back where aiosmtpd's command loop reads (it, too, reaches into the reader's
            # buffer, for STARTTLS).
            self._reader._buffer[0:0] = leftover  # type: ignore[attr-defined]
        return content

    def _reply(self, message: IncomingMessage, outcome: Envelope | Refusal, seconds: float) -> str:
        """The reply for `outcome`, counted and logged (never the content)."""
        s = self.services
        match outcome:
            case TooLarge():
                return replies.REFUSE_SIZE
            case NotStored(error=error):
                s.metrics.store_failed()
                log.warning("message %s not stored: %s", message.id, error)
                return replies.REFUSE_STORAGE
        envelope = outcome  # stored: every byte is in the store
        s.metrics.stored(envelope.size, seconds)
        log.info(
            "stored",
            extra={"message_id": message.id, "size": envelope.size, "rcpts": len(envelope.rcpt_to)},
        )
        if s.on_stored is not None:
            s.on_stored(envelope)
        return replies.accepted(message.id)

    # -- envelope and trace --------------------------------------------------------------

    def _client(self) -> tuple[str | None, int | None, str | None]:
        assert self.session is not None
        peer = self.session.peer
        ip, port = (peer[0], peer[1]) if isinstance(peer, tuple) else (None, None)
        proxy = getattr(self.session, "proxy_data", None)
        proxied = None
        if proxy is not None and getattr(proxy, "src_addr", None) is not None:
            proxied = f"{proxy.src_addr}:{proxy.src_port}"
        return ip, port, proxied

    def _tls(self) -> TlsInfo | None:
        if self.transport is None or self._tls_protocol is None:
            return None
        cipher = self.transport.get_extra_info("cipher")
        if not cipher:
            return None
        return TlsInfo(version=str(cipher[1]), cipher=str(cipher[0]))

    def _trace_header(self, message: IncomingMessage) -> bytes:
        assert self.session is not None
        assert self.envelope is not None
        ip, _, proxied = self._client()
        proxy_ip = proxied.rsplit(":", 1)[0] if proxied else None
        return received_header(
            helo=self.session.host_name,
            client_ip=proxy_ip or ip,
            by_host=self.hostname,
            protocol=protocol_name(
                esmtp=bool(self.session.extended_smtp),
                tls=self._tls_protocol is not None,
                auth=bool(self.session.authenticated),
            ),
            message_id=message.id,
            rcpt_to=list(self.envelope.rcpt_tos),
            when=message.received_at,
        )

    def _envelope_draft(self, message: IncomingMessage) -> EnvelopeDraft:
        """What the session knows of `message`; the store completes it with size and digest."""
        assert self.session is not None
        assert self.envelope is not None
        ip, port, proxied = self._client()
        mail_from = self.envelope.mail_from or ""
        login = self.session.login_data if self.session.authenticated else None
        return EnvelopeDraft(
            id=message.id,
            received_at=message.received_at.isoformat(timespec="milliseconds").replace(
                "+00:00", "Z"
            ),
            mail_from="" if mail_from == "<>" else mail_from,
            rcpt_to=list(self.envelope.rcpt_tos),
            helo=self.session.host_name,
            client_ip=ip,
            client_port=port,
            proxied_from=proxied,
            tls=self._tls(),
            auth_user=login.decode() if isinstance(login, bytes) else None,
            relay=self.config.relay_id,
        )
