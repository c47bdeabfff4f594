"""The `inlet` command. Exit codes: 0 ok, 1 failure, 2 bad usage or configuration."""

import argparse
import asyncio
import json
import os
import socket
import sys
from collections.abc import Sequence

from inlet import settings as config
from inlet.errors import ConfigError, InletError
from inlet.logs import configure
from inlet.messages import load_envelope, load_raw
from inlet.stores import find_data_dir, open_blob_store, remember_data_dir


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="inlet", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("up", "run the pipeline locally on embedded adapters, in the foreground"),
        ("relay", "run the production SMTP relay (the container's command)"),
    ):
        cmd = sub.add_parser(name, help=text, description=text)
        for opt in config.OPTIONS:
            cmd.add_argument(opt.flag, dest=opt.name, metavar=opt.env, help=opt.help)
    show = sub.add_parser("show", help="print a stored message or its envelope")
    show.add_argument("id")
    form = show.add_mutually_exclusive_group()
    form.add_argument("--raw", action="store_true", help="the message exactly as stored")
    form.add_argument("--json", action="store_true", help="the envelope as JSON")
    show.add_argument("--data-dir")
    show.add_argument("--bucket")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command in ("up", "relay"):
            return _serve(args.command, vars(args))
        return _show(args)
    except ConfigError as exc:
        print(f"inlet: {exc}", file=sys.stderr)
        return 2
    except InletError as exc:
        print(f"inlet: {exc}", file=sys.stderr)
        return 1


def _serve(mode: config.Mode, flags: dict[str, str | None]) -> int:
    settings = config.load(mode, flags)
    configure(settings.log_level)
    from relay.server import Relay  # the relay's dependencies are only needed to serve

    if mode == "up":
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        remember_data_dir(settings.data_dir)
    bucket = settings.bucket if mode == "relay" else None  # `up` is always embedded
    store = open_blob_store(bucket=bucket, data_dir=settings.data_dir)

    async def run() -> None:
        relay = Relay(settings, store, relay_id=socket.gethostname())
        try:
            await relay.start()
        except OSError as exc:
            raise ConfigError(f"cannot listen: {exc.strerror or exc}") from exc
        relay.install_signal_handlers()
        where = f"s3://{bucket}" if bucket else str(settings.data_dir.resolve())
        print(
            f"inlet {mode}: SMTP on {settings.smtp_host}:{relay.smtp_port}, "
            f"accepting {', '.join(settings.domains)}; storing in {where}; "
            f"health on http://{settings.smtp_host}:{relay.health_port}/healthz",
            flush=True,
        )
        await relay.serve_forever()

    asyncio.run(run())
    return 0


def _show(args: argparse.Namespace) -> int:
    bucket = args.bucket or os.environ.get("INLET_BUCKET") or None
    store = open_blob_store(bucket=bucket, data_dir=find_data_dir(args.data_dir, os.environ))
    if args.raw:
        sys.stdout.buffer.write(load_raw(store, args.id))
        sys.stdout.flush()
        return 0
    envelope = load_envelope(store, args.id)
    if args.json:
        print(json.dumps(envelope.to_dict(), ensure_ascii=False, indent=2))
        return 0
    print(f"id:          {envelope.id}")
    print("status:      stored")
    print(f"received_at: {envelope.received_at}")
    print(f"mail_from:   <{envelope.mail_from}>")
    print(f"rcpt_to:     {', '.join(envelope.rcpt_to)}")
    print(f"client:      {envelope.client_ip} (helo {envelope.helo})")
    print(f"size:        {envelope.size} bytes, sha256 {envelope.sha256}")
    return 0
