"""One relay process: SMTP listener, health endpoint, metrics flusher and graceful drain."""

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TextIO

from inlet.envelope import Envelope
from inlet.errors import ConfigError
from inlet.message_store import MessageStore
from inlet.settings import Settings
from relay.auth import Credentials
from relay.budget import ByteBudget
from relay.config import RelayConfig
from relay.handler import RelayHandler
from relay.health import serve_health
from relay.protocol import InletSMTP
from relay.services import RelayServices
from relay.state import RelayState
from relay.tls import TlsProvider

log = logging.getLogger(__name__)


class Relay:
    def __init__(
        self,
        settings: Settings,
        messages: MessageStore,
        *,
        relay_id: str,
        on_stored: Callable[[Envelope], None] | None = None,
        credentials: Credentials | None = None,
        # STARTTLS material (inlet.cli.wiring.open_tls); None: from INLET_TLS_CERT/_KEY, if set
        tls: TlsProvider | None = None,
        metrics_out: TextIO | None = None,
        workers: int = 32,
        idle_timeout: float | None = None,  # tests only: below the settings' 1 s minimum
    ) -> None:
        self.settings = settings
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="store")
        self.config = RelayConfig.from_settings(settings, relay_id=relay_id)
        self.state = RelayState()
        self.services = RelayServices(
            messages=messages,
            executor=self.executor,
            budget=ByteBudget(settings.buffer_budget),
            on_stored=on_stored,
            credentials=credentials,
        )
        if settings.submission_port is not None and credentials is None:
            raise ValueError("a submission port needs credentials")
        self._metrics_out = metrics_out or sys.stdout
        self._idle_timeout = idle_timeout or settings.command_timeout
        self._smtp: asyncio.Server | None = None
        self._submission: asyncio.Server | None = None
        self._health: asyncio.Server | None = None
        self._flusher: asyncio.Task[None] | None = None
        self.tls = tls
        self._tls_refresher: asyncio.Task[None] | None = None
        self.stopped = asyncio.Event()

    @property
    def smtp_port(self) -> int:
        assert self._smtp is not None
        port: int = self._smtp.sockets[0].getsockname()[1]
        return port

    @property
    def submission_port(self) -> int:
        assert self._submission is not None
        port: int = self._submission.sockets[0].getsockname()[1]
        return port

    @property
    def health_port(self) -> int:
        assert self._health is not None
        port: int = self._health.sockets[0].getsockname()[1]
        return port

    def _tls_provider(self) -> TlsProvider | None:
        """The injected provider, else one over INLET_TLS_CERT and INLET_TLS_KEY if they are
        set. (A secret needs a Secrets Manager client: inlet.cli.wiring.open_tls builds it.)"""
        s = self.settings
        if self.tls is not None:
            return self.tls
        if s.tls_secret is not None:
            raise ConfigError("INLET_TLS_SECRET: the relay was given no provider for it")
        if s.tls_cert is None or s.tls_key is None:
            return None
        return TlsProvider.from_paths(s.tls_cert, s.tls_key)

    async def start(self) -> None:
        s = self.settings
        handler = RelayHandler(self.config, self.services.metrics)
        tls = self.tls = self._tls_provider()
        loop = asyncio.get_running_loop()

        def factory(submission: bool = False) -> InletSMTP:
            return InletSMTP(
                handler,
                config=self.config,
                state=self.state,
                services=self.services,
                submission=submission,
                hostname=s.hostname,
                ident="Inlet ESMTP",
                enable_SMTPUTF8=True,
                decode_data=False,
                # The newest certificate for each new session: rotation without a restart.
                tls_context=tls.context if tls is not None else None,
                auth_require_tls=True,
                auth_exclude_mechanism=[] if submission else ["LOGIN", "PLAIN"],
                proxy_protocol_timeout=10 if s.proxy_protocol else None,
                timeout=self._idle_timeout,
                loop=loop,
            )

        self._health = await serve_health(s.smtp_host, s.health_port, lambda: self.state.draining)
        self._smtp = await loop.create_server(factory, s.smtp_host, s.smtp_port)
        if s.submission_port is not None:
            self._submission = await loop.create_server(
                lambda: factory(submission=True), s.smtp_host, s.submission_port
            )
        self._flusher = asyncio.create_task(self._flush_metrics())
        rereads = [r.refresh for r in (tls, self.services.credentials) if r is not None]
        if rereads:
            self._tls_refresher = asyncio.create_task(self._refresh_secrets(rereads))

    async def _flush_metrics(self) -> None:
        while True:
            await asyncio.sleep(self.settings.metrics_interval)
            self.services.metrics.flush(self._metrics_out)

    async def _refresh_secrets(self, rereads: Sequence[Callable[[], object]]) -> None:
        """Reread the certificate and key, and the submission users, every
        INLET_SECRETS_REFRESH seconds (in a thread: a file read or a Secrets Manager call); a
        failed reread keeps the current material (each logs its own failures)."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.settings.secrets_refresh)
            for reread in rereads:
                try:
                    await loop.run_in_executor(None, reread)
                except Exception:  # a bug in one reread must not end rotation for good
                    log.exception("reread of secret material failed")

    def install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, lambda: asyncio.ensure_future(self.drain()))

    async def drain(self) -> None:
        """Stop taking mail: health turns 503, new and idle sessions get 421, sessions in DATA
        may finish until the deadline; then everything closes."""
        state = self.state
        if state.draining:
            return
        state.draining = True
        log.info("draining", extra={"in_data": len(state.in_data), "sessions": len(state.sessions)})
        for session in list(state.sessions):
            session.close_idle()
        if state.in_data:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(state.data_finished.wait(), self.settings.drain_seconds)
        await self.close()

    async def close(self) -> None:
        for server in (self._smtp, self._submission, self._health):
            if server is not None:
                server.close()
        for session in list(self.state.connections):
            if session.transport is not None:
                session.transport.close()  # past the deadline: no reply, the sender retries
        for task in (self._flusher, self._tls_refresher):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        # Let closed sessions run their cancellation and schedule cleanup, then wait for every
        # store call to return.
        for _ in range(3):
            await asyncio.sleep(0)
        await asyncio.get_running_loop().run_in_executor(None, self.executor.shutdown, True)
        self.services.auth_executor.shutdown(wait=False)
        self.services.metrics.flush(self._metrics_out)
        self.stopped.set()

    async def serve_forever(self) -> None:
        await self.stopped.wait()
