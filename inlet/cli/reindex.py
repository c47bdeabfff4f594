"""`inlet reindex [--migrate-holds] [--json]`: rebuild the index from the parsed documents and
the recorded holds (inlet.reindex); with --migrate-holds, only record the index's holds under
holds/ (once, after upgrading to an Inlet that records them).

stdout: one summary line, or with --json the report as one JSON document. Failed ids go to
stderr; exit 1 if any failed.
"""

import argparse
import json
import sys
from datetime import UTC, datetime

from inlet.cli.wiring import open_adapters, tool_settings
from inlet.logs import configure
from inlet.reindex import migrate_holds, reindex


def run(args: argparse.Namespace) -> int:
    settings = tool_settings(args)
    configure("WARNING")
    adapters = open_adapters(settings)
    try:
        now = datetime.now(UTC)
        if args.migrate_holds:
            report = migrate_holds(adapters.messages, adapters.index, now=now)
        else:
            report = reindex(adapters.messages, adapters.index, now=now)
    finally:
        adapters.close()
    if args.json:
        print(json.dumps(report.to_dict()))
    elif args.migrate_holds:
        print(
            f"recorded {report.holds_migrated} holds found only in the index; "
            f"{report.failed} failed"
        )
    else:
        print(
            f"reindexed {report.documents} documents and {report.stored_only} messages not yet "
            f"parsed; {report.holds_applied} holds applied ({report.holds_migrated} first "
            f"recorded from the index); {report.failed} failed; {report.seconds:.1f} s"
        )
    for line in report.failed_ids:
        print(f"inlet: {line}", file=sys.stderr)
    return 1 if report.failed else 0
