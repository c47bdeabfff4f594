"""`inlet up` and `inlet relay`: the long-running processes."""

import asyncio
import socket

from inlet import settings as config
from inlet.errors import ConfigError
from inlet.logs import configure
from inlet.stores import open_blob_store, open_index, remember_data_dir


def serve(mode: config.Mode, flags: dict[str, str | None]) -> int:
    settings = config.load(mode, flags)
    configure(settings.log_level)
    from relay.server import Relay  # the relay's dependencies are only needed to serve

    pipeline = None
    if mode == "up":
        from inlet.local import LocalPipeline
        from inlet.retention import RetentionPolicy

        settings.data_dir.mkdir(parents=True, exist_ok=True)
        remember_data_dir(settings.data_dir)
        store = open_blob_store(bucket=None, data_dir=settings.data_dir)  # always embedded
        index = open_index(table=None, data_dir=settings.data_dir)
        pipeline = LocalPipeline(store, index, RetentionPolicy.from_settings(settings))
        where = str(settings.data_dir.resolve())
    else:
        store = open_blob_store(bucket=settings.bucket, data_dir=settings.data_dir)
        where = f"s3://{settings.bucket}" if settings.bucket else str(settings.data_dir.resolve())

    async def run() -> None:
        relay = Relay(
            settings,
            store,
            relay_id=socket.gethostname(),
            on_stored=pipeline.on_stored if pipeline else None,
        )
        try:
            await relay.start()
        except OSError as exc:
            raise ConfigError(f"cannot listen: {exc.strerror or exc}") from exc
        relay.install_signal_handlers()
        if pipeline is not None:
            pipeline.start()
        print(
            f"inlet {mode}: SMTP on {settings.smtp_host}:{relay.smtp_port}, "
            f"accepting {', '.join(settings.domains)}; storing in {where}; "
            f"health on http://{settings.smtp_host}:{relay.health_port}/healthz",
            flush=True,
        )
        await relay.serve_forever()

    try:
        asyncio.run(run())
    finally:
        if pipeline is not None:
            pipeline.close()
            pipeline.index.close()
    return 0
