"""aiosmtpd's SMTP with a streamed DATA phase.

Stock aiosmtpd reads DATA line by line and joins the whole message in memory. Here DATA is read
in large chunks, unstuffed and size-checked as it arrives, and handed to the blob store in
batches under a process-wide memory budget. The reply comes only after the store confirmed the
complete message. The protocol knows the blob-store port, never a concrete store.
"""

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from aiosmtpd.smtp import SMTP, syntax

from inlet.envelope import Envelope, TlsInfo
from inlet.errors import InletError
from inlet.ids import id_time, mint_id
from inlet.ingest import IncomingMessage
from relay.context import RelayContext
from relay.datastream import DataScanner
from relay.policy import REFUSE_DRAINING, REFUSE_SIZE, REFUSE_STORAGE
from relay.trace import protocol_name, received_header

log = logging.getLogger(__name__)
T = TypeVar("T")

READ_SIZE = 64 * 1024


class InletSMTP(SMTP):
    # Also the StreamReader's limit, which sets its flow-control window: large enough for
    # DATA chunks, small enough to bound per-connection buffering.
    line_length_limit = 32 * 1024

    def __init__(self, handler: Any, *, context: RelayContext, **kwargs: Any) -> None:
        super().__init__(handler, data_size_limit=context.max_message_size, **kwargs)
        self.context = context
        self._last_op: Future[Any] | None = None

    # -- session admission -------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self not in self.context.sessions:
            self.context.sessions.add(self)
            self.context.metrics.session_opened()
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        self.context.sessions.discard(self)
        super().connection_lost(error)

    async def _handle_client(self) -> None:
        refusal = self.context.admission_refusal()
        if refusal is not None:
            self.context.metrics.reply(int(refusal[:3]))
            await self.push(refusal)
            assert self.transport is not None
            self.transport.close()
            return
        await super()._handle_client()

    def close_idle(self) -> None:
        """Tell a session that is not in DATA that we are going away (RFC 5321 §3.8)."""
        if self in self.context.in_data or self.transport is None:
            return
        self._writer.write(REFUSE_DRAINING.encode("ascii") + b"\r\n")
        self.transport.close()

    # -- MAIL: enforce SIZE= with an enhanced status code ------------------------------

    async def smtp_MAIL(self, arg: str | None) -> None:
        if arg:
            for param in arg.upper().split()[1:]:
                name, _, value = param.partition("=")
                if (
                    name == "SIZE"
                    and value.isdigit()
                    and int(value) > self.context.max_message_size
                ):
                    self.context.metrics.reply(552)
                    await self.push(REFUSE_SIZE)
                    return
        await super().smtp_MAIL(arg)

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
        self.context.in_data.add(self)
        self.context.data_finished.clear()
        try:
            reply = await self._receive()
        finally:
            self.context.data_ended(self)
            self.context.budget.release(self)
        self._set_post_data_state()  # type: ignore[no-untyped-call]
        self.context.metrics.reply(int(reply[:3]))
        await self.push(reply)
        if self.context.draining:
            self.close_idle()

    async def _receive(self) -> str:
        ctx = self.context
        message_id = mint_id()
        received = id_time(message_id)
        incoming = IncomingMessage(ctx.store, message_id)
        header = self._trace_header(message_id, received)
        scanner = DataScanner()
        batch = bytearray(header)
        await ctx.budget.reserve(self, len(header))
        content_size = 0
        too_big = False
        failure: InletError | None = None
        started = time.monotonic()
        try:
            while not scanner.done:
                chunk = await self._reader.read(READ_SIZE)
                if not chunk:
                    raise ConnectionResetError("connection closed during DATA")
                # aiosmtpd restarts its idle timer only per command; a large message from a
                # slow sender is activity too (RFC 5321 §4.5.3.2.5 times each data block).
                self._reset_timeout()
                content, leftover = scanner.feed(chunk)
                if leftover:
                    # Pipelined commands after the end of data belong to the session again:
                    # put them back where aiosmtpd's command loop reads (it, too, reaches
                    # into the reader's buffer, for STARTTLS).
                    self._reader._buffer[0:0] = leftover  # type: ignore[attr-defined]
                if too_big or failure is not None:
                    continue  # read and discard the rest of DATA; reply at its end
                content_size += len(content)
                if content_size > ctx.max_message_size:
                    too_big = True
                    batch = bytearray()
                    await self._blocking(incoming.abort)
                    ctx.budget.release(self)
                    continue
                await ctx.budget.reserve(self, len(content))
                batch += content
                if len(batch) >= ctx.store.write_size and not scanner.done:
                    full, batch = batch, bytearray()
                    try:
                        await self._blocking(incoming.write, full)
                    except InletError as exc:
                        failure = exc
                        await self._blocking(incoming.abort)
                    ctx.budget.set(self, incoming.buffered + len(batch))
        except BaseException:
            self._abort_after_last_op(incoming)
            raise
        if too_big:
            return REFUSE_SIZE
        if failure is None:
            self._reset_timeout()  # the store's own timeouts bound the commit
            try:
                envelope = await self._blocking(
                    _finish, incoming, batch, self._envelope_builder(message_id, received)
                )
            except InletError as exc:
                failure = exc
            except BaseException:
                self._abort_after_last_op(incoming)
                raise
        if failure is not None:
            ctx.metrics.store_failed()
            log.warning("message %s not stored: %s", message_id, failure)
            return REFUSE_STORAGE
        ctx.metrics.stored(envelope.size, time.monotonic() - started)
        log.info(
            "stored",
            extra={"message_id": message_id, "size": envelope.size, "rcpts": len(envelope.rcpt_to)},
        )
        if ctx.on_stored is not None:
            ctx.on_stored(envelope)
        return f"250 2.0.0 Ok: queued as {message_id}"

    async def _blocking(self, fn: Callable[..., T], *args: Any) -> T:
        future = self.context.executor.submit(fn, *args)
        self._last_op = future
        return await asyncio.wrap_future(future)

    def _abort_after_last_op(self, incoming: IncomingMessage) -> None:
        """Abort once the store call in flight (threads cannot be interrupted) has returned,
        so the cleanup never races it."""
        if self._last_op is not None and not self._last_op.done():
            # Runs in the worker thread that finishes the call, right after it.
            self._last_op.add_done_callback(lambda _: incoming.abort())
            return
        try:
            self.context.executor.submit(incoming.abort)
        except RuntimeError:  # the executor is shutting down: clean up here instead
            incoming.abort()

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

    def _trace_header(self, message_id: str, received: Any) -> bytes:
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
            message_id=message_id,
            rcpt_to=list(self.envelope.rcpt_tos),
            when=received,
        )

    def _envelope_builder(self, message_id: str, received: Any) -> Callable[[int, str], Envelope]:
        assert self.session is not None
        assert self.envelope is not None
        ip, port, proxied = self._client()
        mail_from = self.envelope.mail_from or ""
        rcpt_to = list(self.envelope.rcpt_tos)
        helo = self.session.host_name
        tls = self._tls()
        login = self.session.login_data if self.session.authenticated else None
        auth_user = login.decode() if isinstance(login, bytes) else None
        relay_id = self.context.relay_id

        def build(size: int, sha256: str) -> Envelope:
            return Envelope(
                id=message_id,
                received_at=received.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                mail_from="" if mail_from == "<>" else mail_from,
                rcpt_to=rcpt_to,
                helo=helo,
                client_ip=ip,
                client_port=port,
                proxied_from=proxied,
                tls=tls,
                auth_user=auth_user,
                size=size,
                sha256=sha256,
                relay=relay_id,
            )

        return build


def _finish(
    incoming: IncomingMessage, last: bytearray, make_envelope: Callable[[int, str], Envelope]
) -> Envelope:
    if last:
        incoming.write(last)
    return incoming.commit(make_envelope)
