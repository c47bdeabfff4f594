"""`inlet export (--to ADDR | --from ADDR) [--since T] [--until T] --format mbox|eml --output
PATH`: the messages a search finds, bytes as stored, as one mboxrd file (manifest.json beside
it) or a directory of <id>.eml files (manifest.json inside), in search order: newest first.

stdout: the summary (count, bytes, what was written). stderr: the messages skipped (gone since
they were found) and those that failed or whose bytes do not match their envelope. Exit 1 if
any failed or did not match; 2 for bad usage, an output that exists, or a non-empty directory.
"""

import argparse
import sys
from pathlib import Path

from inlet.cli.commands import instant
from inlet.cli.wiring import open_adapters, tool_settings
from inlet.errors import ConfigError
from inlet.export import export_eml, search_ids, write_mbox
from inlet.index import SearchField
from inlet.logs import configure


def run(args: argparse.Namespace) -> int:
    since, until = instant(args.since, "--since"), instant(args.until, "--until")
    if since is not None and until is not None and until <= since:
        raise ConfigError(f"--until ({args.until}) must be after --since ({args.since})")
    field: SearchField = "to" if args.to else "from"
    value: str = args.to or args.sender
    output = Path(args.output)
    settings = tool_settings(args)
    configure("WARNING")
    adapters = open_adapters(settings)
    try:
        ids = search_ids(adapters.index, field, value, since=since, until=until)
        try:
            if args.format == "mbox":
                report = write_mbox(adapters.messages, ids, output)
            else:
                report = export_eml(adapters.messages, ids, output)
        except OSError as exc:
            print(f"inlet: cannot write the export: {exc}", file=sys.stderr)
            return 1
    finally:
        adapters.close()
    print(
        f"exported {report.exported} messages ({report.bytes} bytes) to "
        f"{' and '.join(report.outputs)}; {len(report.skipped_ids)} gone since found, "
        f"{len(report.failed_ids)} failed, {len(report.mismatched_ids)} not matching their "
        "envelope"
    )
    for message_id in report.skipped_ids:
        print(f"inlet: skipped {message_id}: removed since the search found it", file=sys.stderr)
    for line in report.failed_ids + report.mismatched_ids:
        print(f"inlet: {line}", file=sys.stderr)
    return 0 if report.ok else 1
