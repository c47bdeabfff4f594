"""The `inlet` command. Exit codes: 0 ok, 1 failure, 2 bad usage or configuration."""

import argparse
import sys
from collections.abc import Sequence

from inlet import settings as config
from inlet.errors import ConfigError, InletError

_WHERE = (
    ("--data-dir", "local data dir (default: the last `inlet up`'s, else ./inlet-data)"),
    ("--bucket", "S3 bucket (with --table: work against AWS)"),
    ("--table", "DynamoDB table (with --bucket)"),
    ("--event-bus", "EventBridge bus the events go to on AWS (INLET_EVENT_BUS)"),
)


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

    def tool(name: str, text: str) -> argparse.ArgumentParser:
        cmd = sub.add_parser(name, help=text, description=text)
        for flag, help_text in _WHERE:
            cmd.add_argument(flag, help=help_text)
        return cmd

    show = tool("show", "print a message: its summary, raw bytes, or parsed document")
    show.add_argument("id")
    form = show.add_mutually_exclusive_group()
    form.add_argument("--raw", action="store_true", help="the message exactly as stored")
    form.add_argument(
        "--json", action="store_true", help="the parsed document (or quarantine record) as JSON"
    )
    search = tool("search", "find messages, newest first")
    what = search.add_mutually_exclusive_group(required=True)
    what.add_argument("--to", help="recipient address (envelope RCPT TO, To, Cc)")
    what.add_argument("--from", dest="sender", help="sender address (MAIL FROM, From)")
    what.add_argument("--message-id", help="Message-ID header, with or without <>")
    search.add_argument("--since", help="received at or after (ISO 8601 date or time, UTC)")
    search.add_argument("--until", help="received before (ISO 8601 date or time, UTC)")
    search.add_argument("--limit", type=int, default=50, help="results per page (1-1000)")
    search.add_argument("--cursor", help="continue after a previous page")
    search.add_argument("--json", action="store_true", help="JSON lines")
    hold = tool("hold", "put a message under legal hold: retention never removes it")
    hold.add_argument("id")
    hold.add_argument("--reason", help="why (recorded with the hold, e.g. a case number)")
    hold.add_argument("--by", help="who sets it (default: the OS user name)")
    tool("release", "lift a legal hold").add_argument("id")
    verify = tool(
        "verify", "send one tagged message and wait until it is stored, parsed and searchable"
    )
    verify.add_argument("--smtp-host", required=True, help="the relay (or the NLB) to send to")
    verify.add_argument("--smtp-port", type=int, default=25, help="its SMTP port (default 25)")
    verify.add_argument("--to", required=True, help="a recipient at an accepted domain")
    verify.add_argument(
        "--timeout", type=float, default=60, help="seconds for all stages (default 60)"
    )
    retention = tool("retention", "remove messages past their retention period, now")
    retention.add_argument("--dry-run", action="store_true", help="only report what would go")
    retention.add_argument("--retention-days", help="default days (INLET_RETENTION_DAYS)")
    retention.add_argument(
        "--retention-overrides", help="domain=days,… (INLET_RETENTION_OVERRIDES)"
    )
    retention.add_argument("--json", action="store_true", help="the report as JSON")
    reprocess = tool(
        "reprocess", "parse stored messages again with the current parser, then index them"
    )
    reprocess.add_argument("--since", help="received at or after (ISO 8601 date or time, UTC)")
    reprocess.add_argument("--until", help="received before (ISO 8601 date or time, UTC)")
    reprocess.add_argument(
        "--recheck-authentication",
        action="store_true",
        help="compute the SPF/DKIM/DMARC/ARC verdicts again with today's DNS (default: keep "
        "those from receipt; only documents without verdicts get them)",
    )
    reprocess.add_argument("--dry-run", action="store_true", help="only list what would be done")
    reprocess.add_argument("--json", action="store_true", help="the report as JSON")
    replay = tool("replay", "emit the events of chosen messages again (signed afresh)")
    chosen = replay.add_mutually_exclusive_group(required=True)
    chosen.add_argument("--id", nargs="+", action="extend", help="message ids")
    chosen.add_argument("--since", help="received at or after (ISO 8601 date or time, UTC)")
    replay.add_argument("--until", help="with --since: received before")
    replay.add_argument("--dry-run", action="store_true", help="only list the events")
    replay.add_argument("--json", action="store_true", help="the report as JSON")
    export = tool("export", "write the raw messages, bytes as stored, as mbox or .eml files")
    whose = export.add_mutually_exclusive_group(required=True)
    whose.add_argument("--to", help="recipient address (envelope RCPT TO, To, Cc)")
    whose.add_argument("--from", dest="sender", help="sender address (MAIL FROM, From)")
    export.add_argument("--since", help="received at or after (ISO 8601 date or time, UTC)")
    export.add_argument("--until", help="received before (ISO 8601 date or time, UTC)")
    export.add_argument("--format", required=True, choices=("mbox", "eml"))
    export.add_argument(
        "--output",
        required=True,
        help="mbox: the file to write (manifest.json beside it); eml: a new or empty directory",
    )
    reindex = tool("reindex", "rebuild the index from the parsed documents and recorded holds")
    reindex.add_argument(
        "--migrate-holds",
        action="store_true",
        help="only record the index's holds in the message store (holds/), once after upgrading",
    )
    reindex.add_argument("--json", action="store_true", help="the report as JSON")
    auth = sub.add_parser(
        "auth", help="submission credentials", description="submission credentials"
    )
    auth_sub = auth.add_subparsers(dest="auth_command", required=True)
    auth_sub.add_parser(
        "hash",
        help="read a password on stdin, print its hash (auth file lines are user:<hash>)",
        description="read a password on stdin, print its hash (auth file lines are user:<hash>)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command in ("up", "relay"):
            from inlet.cli.serve import serve  # needs the relay's dependencies

            return serve(args.command, vars(args))
        if args.command == "auth":
            from inlet.cli.auth import hash_from_stdin

            return hash_from_stdin()
        if args.command == "reprocess":
            from inlet.cli import reprocess

            return reprocess.run(args)
        if args.command == "replay":
            from inlet.cli import replay

            return replay.run(args)
        if args.command == "export":
            from inlet.cli import export

            return export.run(args)
        if args.command == "reindex":
            from inlet.cli import reindex

            return reindex.run(args)
        from inlet.cli import commands

        return commands.run(args)
    except ConfigError as exc:
        print(f"inlet: {exc}", file=sys.stderr)
        return 2
    except InletError as exc:
        print(f"inlet: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
