"""`inlet reprocess`: parse stored messages again with the current parser, then index them
(inlet.reprocess), on the local data dir or on AWS like the other commands.

stdout: a summary line (or, with --json, the report as one JSON document); with --dry-run, a
line per message that would be reprocessed (JSON lines with --json). stderr: each message that
failed, by id. Exit 1 if any failed (after all the others were done), 2 for bad usage.
"""

import argparse
import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime

from inlet.cli.commands import instant
from inlet.cli.wiring import open_adapters, tool_settings
from inlet.errors import ConfigError
from inlet.ids import id_time
from inlet.logs import configure
from inlet.parsing import PARSER_VERSION
from inlet.reprocess import ReprocessReport, ids_in_range, reprocess


def run(args: argparse.Namespace) -> int:
    since = instant(args.since, "--since")
    until = instant(args.until, "--until")
    if since is not None and until is not None and until <= since:
        raise ConfigError(f"--until ({args.until}) must be after --since ({args.since})")
    settings = tool_settings(args)
    configure("WARNING")
    adapters = open_adapters(settings)
    now = datetime.now(UTC)
    try:
        if args.dry_run:
            return _dry_run(ids_in_range(adapters.messages, since, until, now=now), args.json)
        report = ReprocessReport()
        for outcome in reprocess(
            adapters.messages,
            adapters.index,
            since=since,
            until=until,
            now=now,
            verdicts=adapters.verdicts,
            events=adapters.events,
            recheck_authentication=args.recheck_authentication,
        ):
            report.add(outcome)
            if outcome.status == "failed":
                print(f"inlet: {outcome.id} failed: {outcome.error}", file=sys.stderr)
        if args.json:
            print(json.dumps(report.to_dict()))
        else:
            print(_summary(report))
        if report.failed:
            print(
                f"inlet: {report.failed} failed, run again for them: "
                + " ".join(report.failed_ids),
                file=sys.stderr,
            )
        return 1 if report.failed else 0
    finally:
        adapters.close()


def _dry_run(ids: Iterator[str], as_json: bool) -> int:
    count = 0
    for message_id in ids:
        count += 1
        if as_json:
            received = id_time(message_id).isoformat(timespec="milliseconds")
            print(json.dumps({"id": message_id, "received_at": received.replace("+00:00", "Z")}))
        else:
            print(f"would reprocess {message_id}")
    if not as_json:
        print(f"would reprocess {count} messages with parser {PARSER_VERSION}")
    return 0


def _summary(report: ReprocessReport) -> str:
    return (
        f"reprocessed {report.examined} messages: {report.parsed} parsed, "
        f"{report.quarantined} quarantined, {report.skipped} skipped (raw gone), "
        f"{report.failed} failed; parser {report.parser_version}; authentication kept for "
        f"{report.authentication_kept}, computed for {report.authentication_computed}; "
        f"{report.attachments_removed} stale attachments removed"
    )
