"""The CLI's commands that read and manage stored mail: show, search, hold, release, retention,
and verify (inlet.cli.verify).

They work on the local data dir, or on AWS when a bucket and table are configured, through the
same ports; the policy and locations come from flags and INLET_* variables at run time.
"""

import argparse
import getpass
import json
import os
import sys
from datetime import UTC, datetime

from inlet.authentication.results import Authentication
from inlet.cli.terminal import printable
from inlet.cli.verify import verify
from inlet.cli.wiring import open_adapters, tool_settings
from inlet.document import Address
from inlet.errors import ConfigError, NotFoundError
from inlet.events import EventSink
from inlet.expiry_sweep import run_retention
from inlet.ids import check_id
from inlet.index import Entry, Index, SearchField
from inlet.logs import configure
from inlet.message_store import Hold, MessageStore
from inlet.parsing import stored_document
from inlet.retention_policy import RetentionPolicy


def run(args: argparse.Namespace) -> int:
    settings = tool_settings(
        args,
        retention_days=getattr(args, "retention_days", None),
        retention_overrides=getattr(args, "retention_overrides", None),
    )
    configure("WARNING")
    adapters = open_adapters(settings)
    messages, index = adapters.messages, adapters.index
    try:
        if args.command == "show":
            code = _show(messages, index, args)
            if code == 0 and not (args.raw or args.json):
                for line in _webhook_lines(adapters.events, args.id):
                    _say(line)
            return code
        if args.command == "search":
            return _search(index, args)
        if args.command == "verify":
            if not 0 < args.timeout <= 3600:
                raise ConfigError(f"--timeout: expected 0 < seconds <= 3600, got {args.timeout}")
            message_id = verify(
                messages,
                index,
                host=args.smtp_host,
                port=args.smtp_port,
                to=args.to,
                timeout=args.timeout,
            )
            print(f"ok: {message_id} went through every stage")
            return 0
        if args.command == "retention":
            report = run_retention(
                messages,
                index,
                RetentionPolicy.from_settings(settings),
                now=datetime.now(UTC),
                dry_run=args.dry_run,
            )
            if args.json:
                print(json.dumps({**report.to_dict(), "ids": report.expired_ids}))
            else:
                verb = "would remove" if args.dry_run else "removed"
                for message_id in report.expired_ids:
                    print(f"{verb} {message_id}")
                print(
                    f"{verb} {report.expired}, kept {report.held} under hold, "
                    f"{report.failed} failed (of {report.examined} old enough to check)"
                )
            return 1 if report.failed else 0
        return _hold(messages, index, args)
    finally:
        adapters.close()


def _show(messages: MessageStore, index: Index, args: argparse.Namespace) -> int:
    message_id = check_id(args.id)
    if args.raw:
        sys.stdout.buffer.write(messages.load_raw(message_id))
        sys.stdout.flush()
        return 0
    document = messages.load_document(message_id) or messages.load_quarantine(message_id)
    if document is None:
        document = stored_document(messages.load_envelope(message_id))
    if args.json:
        print(json.dumps(document, ensure_ascii=False, indent=2))
        return 0
    entry = index.get(message_id)
    envelope = document["envelope"]
    status: str = document["status"]
    if status == "stored":
        status += " (in flight: not yet parsed)"
    elif entry is None:
        status += " (in flight: not yet indexed)"
    _say(f"id:          {message_id}")
    _say(f"status:      {status}")
    if document.get("reason"):
        _say(f"reason:      {document['reason']}")
    _say(f"held:        {'yes' if index.is_held(message_id) else 'no'}")
    _say(f"received_at: {envelope['received_at']}")
    _say(f"mail_from:   <{envelope['mail_from']}>")
    _say(f"rcpt_to:     {', '.join(envelope['rcpt_to'])}")
    _say(f"client:      {envelope.get('client_ip')} (helo {envelope.get('helo')})")
    _say(f"size:        {envelope['size']} bytes, sha256 {envelope['sha256']}")
    if document["status"] == "parsed":
        _say(f"from:        {_addresses(document['from'])}")
        _say(f"to:          {_addresses(document['to'])}")
        _say(f"subject:     {document['subject'] or ''}")
        _say(f"date:        {document['date'] or ''}")
        _say(f"message_id:  {document['message_id'] or ''}")
        for line in _verdict_lines(document.get("authentication")):
            _say(line)
        for item in document["attachments"]:
            _say(f"attachment:  {item['filename']} ({item['content_type']}, {item['size']} B)")
        if document["defects"]:
            _say(f"defects:     {'; '.join(document['defects'])}")
    return 0


def _webhook_lines(events: EventSink, message_id: str) -> list[str]:
    """Where the message's events are in the local webhook outbox (nothing on AWS: there,
    EventBridge and the webhook function's queues hold them)."""
    from inlet.webhook.outbox import Outbox, describe

    if not isinstance(events, Outbox):
        return []
    lines = []
    for entry in events.status_of(message_id):
        shown = describe(entry)
        event_id, attempts, error = shown["event_id"], shown["attempts"], shown["last_error"]
        if entry.state == "delivered":
            text = f"delivered {event_id} at {shown['done_at']} (attempt {attempts})"
        elif entry.state == "pending":
            tried = f"attempt {attempts + 1}" if attempts else "first attempt"
            last = f", last error: {error}" if error else ""
            text = f"pending {event_id} ({tried} at {shown['next_attempt_at']}{last})"
        else:
            text = (
                f"FAILED {event_id}: gave up at {shown['done_at']} after {attempts} attempts "
                f"(last error: {error}); `inlet replay --id {message_id}` sends it again"
            )
        lines.append(f"webhook:     {text}")
    return lines


def _verdict_lines(verdicts: Authentication | None) -> list[str]:
    if not verdicts:
        return ["verdicts:    none computed (`inlet reprocess --recheck-authentication` adds them)"]
    spf, dmarc, arc = verdicts["spf"], verdicts["dmarc"], verdicts["arc"]
    signatures = "; ".join(
        f"{sig['result']} {sig['domain'] or '?'} s={sig['selector'] or '?'}"
        for sig in verdicts["dkim"]
    )
    policy = f" (p={dmarc['policy']})" if dmarc["policy"] else ""
    chain = f" ({arc['chain_length']} sets)" if arc["chain_length"] else ""
    return [
        f"spf:         {spf['result']} {spf['domain'] or ''} (helo {spf['helo_result']})",
        f"dkim:        {signatures or 'none (unsigned)'}",
        f"dmarc:       {dmarc['result']}{policy} {dmarc['domain'] or ''}".rstrip(),
        f"arc:         {arc['result']}{chain}",
    ]


def _search(index: Index, args: argparse.Namespace) -> int:
    field: SearchField
    if args.to:
        field, value = "to", args.to
    elif args.sender:
        field, value = "from", args.sender
    else:
        field, value = "message_id", args.message_id
    page = index.search(
        field,
        value,
        since=instant(args.since, "--since"),
        until=instant(args.until, "--until"),
        limit=args.limit,
        cursor=args.cursor,
    )
    for entry in page.entries:
        print(
            json.dumps(entry.to_dict(), ensure_ascii=False)
            if args.json
            else printable(_line(entry))
        )
    if page.cursor:
        print(f"more: add --cursor {page.cursor}", file=sys.stderr)
    return 0


def _hold(messages: MessageStore, index: Index, args: argparse.Namespace) -> int:
    """A hold goes to the index first (retention asks the index), then to the message store
    (so a rebuilt index keeps it); a release leaves the store first. Either way, a failure
    half-way leaves the message held, and running the command again completes it."""
    message_id = check_id(args.id)
    if args.command == "hold":
        if index.get(message_id) is None and not messages.exists(message_id):
            raise NotFoundError(f"no message {message_id}")
        index.hold(message_id)
        messages.save_hold(
            Hold(
                id=message_id,
                held_at=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
                held_by=args.by or _user(),
                reason=args.reason,
            )
        )
        print(f"held {message_id}: retention will keep it until released")
    else:
        messages.remove_hold(message_id)
        index.release(message_id)
        print(f"released {message_id}")
    return 0


def _user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no name for this uid (a container)
        return f"uid {os.getuid()}"


def instant(text: str | None, flag: str) -> datetime | None:
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"{flag}: expected an ISO 8601 date or time, got {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _say(text: str) -> None:
    """Print a line of a human-readable listing: client-written fields made harmless."""
    print(printable(text))


def _addresses(items: list[Address]) -> str:
    return ", ".join(f"{i['name']} <{i['address']}>" if i["name"] else i["address"] for i in items)


def _line(entry: Entry) -> str:
    sender = ", ".join(entry.from_) or entry.mail_from or "<>"
    rcpts = ", ".join(entry.rcpt_to)
    subject = entry.subject or ""
    return f"{entry.id}  {entry.received_at}  {entry.status:<11}  {sender} → {rcpts}  {subject}"
