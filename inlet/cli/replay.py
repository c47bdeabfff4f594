"""`inlet replay (--id ID… | --since T [--until T]) [--dry-run] [--json]`: emit the events of
those messages again (inlet.replay), to the local webhook outbox or the EventBridge bus.

stdout: a line per event emitted (`replayed <event id>`, or `would replay`), then a summary;
with --json, the report as one JSON document. Exit 1 if any event was not taken, 2 when there
is nowhere to send events (no outbox locally, no INLET_EVENT_BUS on AWS).
"""

import argparse
import json
import sys
from datetime import UTC, datetime

from inlet.cli.commands import instant
from inlet.cli.wiring import open_adapters, tool_settings
from inlet.errors import ConfigError
from inlet.events import NoEvents
from inlet.logs import configure
from inlet.replay import replay
from inlet.reprocess import ids_in_range


def run(args: argparse.Namespace) -> int:
    since, until = instant(args.since, "--since"), instant(args.until, "--until")
    if until is not None and since is None:
        raise ConfigError("--until goes with --since")
    if since is not None and until is not None and until <= since:
        raise ConfigError(f"--until ({args.until}) must be after --since ({args.since})")
    settings = tool_settings(args)
    configure("WARNING")
    adapters = open_adapters(settings)
    try:
        sink = adapters.events
        if isinstance(sink, NoEvents):
            raise ConfigError(
                "nowhere to send events: on AWS set INLET_EVENT_BUS (--event-bus); locally "
                "start `inlet up` with INLET_WEBHOOK_URL (--webhook-url) once, which makes the "
                f"outbox under {settings.data_dir}"
            )
        ids = args.id or ids_in_range(adapters.messages, since, until, now=datetime.now(UTC))
        report = replay(adapters.messages, sink, ids, dry_run=args.dry_run)
    finally:
        adapters.close()
    if args.json:
        print(json.dumps(report.to_dict()))
    else:
        verb = "would replay" if args.dry_run else "replayed"
        for message_id in report.emitted_ids:
            print(f"{verb} {message_id}")
        print(
            f"{verb} {report.emitted} events; {report.not_parsed} messages have none yet (not "
            f"parsed, or gone); {report.failed} failed"
        )
    for line in report.failed_ids:
        print(f"inlet: {line}", file=sys.stderr)
    return 1 if report.failed else 0
