"""aiosmtpd's SMTP with a streamed DATA phase.

Stock aiosmtpd reads DATA line by line and joins the whole message in memory. Here DATA is read
in large chunks and unstuffed as it arrives (relay.datastream); a MessageWriter (relay.writer)
batches the content into the message store under the process-wide memory budget and the size
limit. The reply comes only after the store confirmed the complete message. The protocol knows
the message store, never a concrete blob store.
"""

import asyncio
import logging
import re
import time
from typing import Any

from aiosmtpd.proxy_protocol import get_proxy
from aiosmtpd.smtp import MISSING, SMTP, AuthResult, LoginPassword, syntax

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
# Lines that are no command at all (empty, or a command word that is not ASCII) and unknown
# commands, together: past this many the session is closed (aiosmtpd counts only the unknown).
BAD_COMMAND_LIMIT = 5
# An absolute domain in a path, <x@example.com.>: the address without the root's dot.
_ROOT_DOT = re.compile(r"^(\s*<[^<>@]*@[^<>]+?)\.>")
# aiosmtpd's replies to such lines, the only way they reach us.
_BAD_COMMAND_REPLIES = (
    "500 Error: bad syntax",
    '500 Error: command "',
    "500 Command line too long",
)
# A reply is printable ASCII: aiosmtpd echoes parts of a command back (an unknown command word,
# a VRFY argument), and a CR or a byte that is not ASCII must not reach the client raw (nor
# fail to encode: that was a 500 with Python's exception text).
_UNSAFE_IN_REPLY = re.compile(r"[^\x20-\x7e]")


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
        submission: bool = False,
        **kwargs: Any,
    ) -> None:
        if submission:
            # RFC 6409 §4.3 and RFC 4954: STARTTLS, then AUTH (PLAIN or LOGIN), before MAIL.
            kwargs.update(auth_required=True, auth_require_tls=True, authenticator=_defer_login)
        super().__init__(handler, data_size_limit=config.max_message_size, **kwargs)
        if not submission:
            # No AUTH mechanism is offered on port 25 (EHLO does not advertise it): HELP must
            # not list it, and AUTH is then an unrecognised command like any other.
            self._smtp_methods.pop("AUTH", None)
        self.submission = submission
        self.config = config
        self.state = state
        self.services = services
        self._address: str | None = None  # the client's, once known (the PROXY source if any)
        self._bad_commands = 0
        self._pending_login: LoginPassword | None = None

    # -- session admission -------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self not in self.state.connections:  # also called again after STARTTLS
            self.state.connections.add(self)
            self.services.metrics.session_opened()
        # STARTTLS starts a new session (RFC 3207 §4.2), but the PROXY header came once, on
        # the connection: the client behind the load balancer is still the same.
        before = getattr(self, "session", None)
        proxy = getattr(before, "proxy_data", None)
        super().connection_made(transport)
        if proxy is not None:
            assert self.session is not None
            self.session.proxy_data = proxy

    def connection_lost(self, error: Exception | None) -> None:
        self.state.connections.discard(self)
        self.state.leave(self, self._address)
        super().connection_lost(error)

    async def _handle_client(self) -> None:
        # The PROXY header first (as aiosmtpd would): the limits apply to the client behind
        # the load balancer, and a refusal must come before the greeting.
        if self._proxy_timeout is not None:
            assert self.session is not None
            self._reset_timeout(self._proxy_timeout)
            self.session.proxy_data = await get_proxy(self._reader)
            status = await self._call_handler_hook("PROXY", self.session.proxy_data)
            if not self.session.proxy_data or status is MISSING or not status:
                log.info("connection without a valid PROXY header closed")
                assert self.transport is not None
                self.transport.close()
                return
            self._proxy_timeout = None
            self._reset_timeout()
        ip, _, proxied = self._client()
        address = proxied.rsplit(":", 1)[0] if proxied else ip
        refusal = self.state.admit(
            self,
            address,
            max_sessions=self.config.max_sessions,
            max_per_address=self.config.max_sessions_per_ip,
        )
        if refusal is not None:
            await self._answer(refusal)
            assert self.transport is not None
            self.transport.close()
            return
        self._address = address
        await super()._handle_client()

    async def push(self, status: Any) -> None:
        """Every reply goes out here: where the lines aiosmtpd rejects without a hook (empty,
        a non-ASCII command word, an unknown command, an overlong line) are counted as bad
        commands, and where what it echoes is made printable."""
        if self.transport is None or self.transport.is_closing():
            return  # hung up: a closed TLS transport would raise on the write
        if isinstance(status, str):
            status = _UNSAFE_IN_REPLY.sub("?", status)
        if isinstance(status, str) and status.startswith(_BAD_COMMAND_REPLIES):
            self._bad_commands += 1
            if self._bad_commands >= BAD_COMMAND_LIMIT:
                log.warning("too many bad commands", extra={"client_ip": self._address})
                self.services.metrics.reply(replies.code(replies.REFUSE_BAD_COMMANDS))
                await super().push(replies.REFUSE_BAD_COMMANDS)
                self._hang_up()
                return
        await super().push(status)

    def _hang_up(self) -> None:
        """Close the connection and end the command loop with it: aiosmtpd's loop would go on
        with lines it has already read (and, on TLS, fail on the closed transport)."""
        assert self.transport is not None
        self.transport.close()
        if self._handler_coroutine is not None:
            self._handler_coroutine.cancel()

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
        self.services.metrics.reply(replies.code(replies.REFUSE_DRAINING))
        self._writer.write(replies.REFUSE_DRAINING.encode("ascii") + b"\r\n")
        self.transport.close()

    # -- MAIL: enforce SIZE= with an enhanced status code ------------------------------

    async def smtp_MAIL(self, arg: str | None) -> None:
        if self.config.require_tls and not self.submission and self._tls_protocol is None:
            await self._answer(replies.REFUSE_TLS_REQUIRED)
            return
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

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        address, rest = self._parse_path(arg)
        if address is None and arg:
            # RFC 5321's Domain has no trailing dot, but an absolute name is the same domain,
            # and MTAs send it (Postfix's trivial-rewrite strips it): take it without the dot.
            stripped = _ROOT_DOT.sub(r"\1>", arg, count=1)
            if stripped != arg:
                address, rest = self._parse_path(stripped)
        return address, rest

    def _parse_path(self, arg: str) -> tuple[str | None, str | None]:
        try:
            return super()._getaddr(arg)
        except (IndexError, ValueError):
            # The stdlib parser aiosmtpd uses raises these, not HeaderParseError, on some
            # malformed paths ("a@", "<", '"'): a syntax error like any other (553 / 501).
            return None, None

    async def smtp_STARTTLS(self, arg: str) -> None:
        if self._tls_protocol is not None:
            await self._answer(replies.REFUSE_TLS_AGAIN)
            return
        await super().smtp_STARTTLS(arg)

    async def check_auth_needed(self, caller_method: str) -> bool:
        needed = await super().check_auth_needed(caller_method)
        if needed:  # aiosmtpd sent REFUSE_AUTH_REQUIRED
            self.services.metrics.reply(replies.code(replies.REFUSE_AUTH_REQUIRED))
        return needed

    # -- AUTH (submission only) ------------------------------------------------------------

    @syntax("AUTH <mechanism>")
    async def smtp_AUTH(self, arg: str) -> None:
        s = self.services
        if self._address is not None and s.auth_limiter.blocked(self._address):
            await self._answer(replies.REFUSE_AUTH_LIMIT)
            self._hang_up()
            return
        # aiosmtpd parses the exchange and hands the login to _defer_login, which keeps it
        # here without a reply; the slow check runs in a worker thread, not in the loop.
        self._pending_login = None
        await super().smtp_AUTH(arg)
        login, self._pending_login = self._pending_login, None
        if login is None:
            return
        assert s.credentials is not None
        assert self.session is not None
        loop = asyncio.get_running_loop()
        user = await loop.run_in_executor(
            s.auth_executor, s.credentials.verify, login.login, login.password
        )
        if user is None:
            if self._address is not None:
                s.auth_limiter.failed(self._address)
            log.warning("AUTH failed", extra={"client_ip": self._address})
            await self._answer(replies.REFUSE_AUTH_FAILED)
            return
        self.session.authenticated = True
        self.session.auth_data = user
        self.session.login_data = user.encode("utf-8")
        log.info("AUTH ok", extra={"client_ip": self._address, "auth_user": user})
        await self.push(replies.AUTH_OK)

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
        from relay.budget import Evicted

        # Most of what a session holds outside the byte budget is its reader's buffer: the
        # transport reads until that passes twice the line limit, max_size bytes per recv()
        # (256 KiB in asyncio's socket transports). Reading at most two chunks per recv()
        # takes 128 KiB off what a session waiting for memory keeps (docs/performance.md,
        # "Fair memory"; one chunk per recv() breaks up chunks, and batches, too often).
        if getattr(self.transport, "max_size", 0) > 2 * READ_SIZE:
            self.transport.max_size = 2 * READ_SIZE  # type: ignore[union-attr]
        s = self.services
        message = s.messages.begin(mint_id())
        writer = MessageWriter(
            message,
            s.budget,
            s.executor,
            limit=self.config.max_message_size,
            stall_timeout=self.config.stall_timeout,
            on_evict=self._evicted,
        )
        try:
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
        except Evicted:
            raise DataTimeout from None  # answered 421 already, by _evicted
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

    def _evicted(self) -> None:
        """The byte budget took back what this session held: in DATA, it sent nothing for
        INLET_STALL_TIMEOUT seconds while other sessions waited for that memory. 421 4.4.2, as
        for a timeout, and close; the writer then aborts the message (nothing is stored)."""
        if self.transport is None or self.transport.is_closing():
            return
        self.services.metrics.reply(replies.code(replies.REFUSE_TIMEOUT))
        self._writer.write(replies.REFUSE_TIMEOUT.encode("ascii") + b"\r\n")
        self.transport.close()

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


def _defer_login(
    server: InletSMTP, session: Any, envelope: Any, mechanism: str, auth_data: Any
) -> AuthResult:
    """aiosmtpd's authenticator hook, called in the loop: keep the login for smtp_AUTH to
    check off the loop, and let aiosmtpd send nothing itself."""
    server._pending_login = auth_data if isinstance(auth_data, LoginPassword) else None
    return AuthResult(success=False, handled=True)
