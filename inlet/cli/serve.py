"""`inlet up` and `inlet relay`: the long-running processes."""

import asyncio
import logging
import socket
import sys
from typing import TYPE_CHECKING

from inlet import settings as config
from inlet.cli.wiring import open_adapters, open_tls, remember_data_dir, secret_source
from inlet.errors import ConfigError
from inlet.logs import configure

if TYPE_CHECKING:
    from inlet.webhook.delivery import WebhookDeliverer
    from relay.auth import Credentials

log = logging.getLogger(__name__)


def serve(mode: config.Mode, flags: dict[str, str | None]) -> int:
    settings = config.load(mode, flags)
    configure(settings.log_level)
    # Imported once the settings are known good: a configuration error is reported as one,
    # even where the relay's dependencies are missing.
    from relay.server import Relay

    runner = None
    deliverer: WebhookDeliverer | None = None
    if mode == "up":
        # The parser and the index come with the local pipeline only: `inlet relay` stays small.
        from inlet.cli.local_runner import LocalRunner
        from inlet.retention_policy import RetentionPolicy

        settings.data_dir.mkdir(parents=True, exist_ok=True)
        remember_data_dir(settings.data_dir)
        adapters = open_adapters(settings, embedded=True)
        runner = LocalRunner(
            adapters.messages,
            adapters.index,
            RetentionPolicy.from_settings(settings),
            verdicts=adapters.verdicts,
            events=adapters.events,
        )
        deliverer = _deliverer(settings, adapters.events)
    else:
        adapters = open_adapters(settings, with_index=False, store_deadline=settings.store_timeout)
    adapters.sweep_partials()
    credentials = _credentials(settings)
    tls = open_tls(settings)  # read now: missing or broken material stops the start-up

    async def run() -> None:
        relay = Relay(
            settings,
            adapters.messages,
            relay_id=socket.gethostname(),
            on_stored=runner.on_stored if runner else None,
            credentials=credentials,
            tls=tls,
        )
        try:
            await relay.start()
        except OSError as exc:
            raise ConfigError(f"cannot listen: {exc.strerror or exc}") from exc
        relay.install_signal_handlers()
        if runner is not None:
            runner.start()
        if deliverer is not None:
            deliverer.start()
        print(
            f"inlet {mode}: SMTP on {settings.smtp_host}:{relay.smtp_port}, "
            f"accepting {', '.join(settings.domains)}; storing in {adapters.where}; "
            f"health on http://{settings.smtp_host}:{relay.health_port}/healthz"
            + (
                f"; submission on {settings.smtp_host}:{relay.submission_port}"
                if settings.submission_port is not None
                else ""
            )
            + (f"; webhook to {deliverer.host}" if deliverer is not None else ""),
            flush=True,
        )
        await relay.serve_forever()

    try:
        asyncio.run(run())
    finally:
        if runner is not None:
            runner.close()  # first: what it indexes last is emitted to the outbox
        if deliverer is not None:
            deliverer.stop()
        adapters.close()
    return 0


def _deliverer(settings: config.Settings, events: object) -> "WebhookDeliverer | None":
    """`inlet up`'s webhook deliverer, when there is a webhook; without one, a warning if
    events wait in the outbox (they are kept, and delivered once a webhook is set again)."""
    from inlet.webhook.delivery import WebhookDeliverer
    from inlet.webhook.outbox import Outbox

    if not isinstance(events, Outbox):
        return None
    if settings.webhook_url is None or settings.webhook_secret is None:
        pending = events.pending_count()
        log.warning(
            "webhook outbox kept without a webhook: events are queued, not delivered; set "
            "INLET_WEBHOOK_URL to deliver them, or remove the outbox directory to stop queueing",
            extra={"pending": pending, "outbox": str(events.directory)},
        )
        return None
    return WebhookDeliverer(
        events,
        settings.webhook_url,
        settings.webhook_secret,
        retry_seconds=settings.webhook_retry_seconds,
        metrics_interval=settings.metrics_interval,
        metrics_out=sys.stdout,
    )


def _credentials(settings: config.Settings) -> "Credentials | None":
    """The submission port's users, read once now (a bad file stops the start-up)."""
    if settings.submission_port is None:
        return None
    from relay.auth import Credentials

    source = secret_source(path=settings.auth_file, secret_id=settings.auth_secret)
    credentials = Credentials(source.read, source=source.describe())
    credentials.refresh()
    return credentials
