"""An example receiver of Inlet's webhook events, standard library only: copy it and adapt.

    INLET_WEBHOOK_SECRET=... python examples/webhook_receiver.py --port 8000 [--host 127.0.0.1]

(`--secret S` works too, but a flag is visible in the process list.) Each request carries one
event as its JSON body and the headers `Inlet-Event-Id` and
`Inlet-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the secret>`.
Answers: 204 taken (a duplicate too: it was taken before), 401 bad or missing signature,
400 not a JSON event. Inlet retries anything but a 2xx, so delivery is at least once.
"""

import argparse
import hashlib
import hmac
import json
import os
import signal
import sys
import threading
import time
from collections import OrderedDict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NoReturn

# Older requests are refused: a captured one cannot be replayed later (Inlet signs each retry
# afresh). Both directions, so a skewed clock shows up as 401s rather than passing unnoticed.
TOLERANCE_SECONDS = 300
MAX_BODY = 1024 * 1024  # events stay under 256 KB; refuse anything far bigger unread
# Ids already handled, oldest first. A real consumer stores them with its own data, in the same
# transaction as the effect of the event, so a duplicate survives restarts and is still dropped.
SEEN_LIMIT = 10_000
seen: OrderedDict[str, None] = OrderedDict()
seen_lock = threading.Lock()
# Requests are handled on threads, and print() writes the text and the newline apart: two
# events could share a line. One write per line, one thread at a time.
output_lock = threading.Lock()


def verify(secret: bytes, body: bytes, header: str, now: float) -> bool:
    """The check of inlet.webhook.signature.verify: a fresh `t` and one `v1` that matches."""
    t, candidates = "", []
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep or not value.isascii():  # compare_digest refuses non-ASCII str
            return False
        if name == "t":
            t = value
        elif name == "v1":
            candidates.append(value)
    if not t.isdigit() or abs(now - int(t)) > TOLERANCE_SECONDS:
        return False
    expected = hmac.new(secret, t.encode() + b"." + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, candidate) for candidate in candidates)


def is_new(event_id: str) -> bool:
    with seen_lock:  # requests are handled on threads: check and record as one step
        if event_id in seen:
            return False
        seen[event_id] = None
        if len(seen) > SEEN_LIMIT:
            seen.popitem(last=False)
        return True


def say(line: str) -> None:
    with output_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def summary(event: dict[str, Any]) -> str:
    detail = event["detail"]
    sender = detail["from"][0]["address"] if detail["from"] else detail["envelope"]["mail_from"]
    subject = " ".join((detail["subject"] or "").split())  # one line, whatever the subject
    return f"{event['detail-type']} {detail['id']} from={sender} subject={subject}"


class Handler(BaseHTTPRequestHandler):
    secret = b""

    def do_POST(self) -> None:
        length = self.headers.get("Content-Length", "")
        size = int(length) if length.isascii() and length.isdigit() else -1
        if not 0 <= size <= MAX_BODY:
            self.close_connection = True  # the body is left unread
            return self.answer(411 if size < 0 else 413)
        body = self.rfile.read(size)
        header = self.headers.get("Inlet-Signature", "")
        if not verify(self.secret, body, header, time.time()):
            return self.answer(401)
        try:
            event = json.loads(body)
            line = summary(event)
            event_id = event["detail"]["event_id"]
        except (ValueError, TypeError, KeyError, IndexError, AttributeError):
            return self.answer(400)
        # The header is not signed: trust it only when it names the signed event.
        if self.headers.get("Inlet-Event-Id") != event_id:
            return self.answer(400)
        say(line if is_new(event_id) else f"duplicate {event_id}")
        self.answer(204)

    def answer(self, status: int) -> None:
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()


def stop(signum: int, frame: object) -> NoReturn:
    raise SystemExit(0)  # leaves serve_forever; the finally below closes the socket


def main() -> None:
    parser = argparse.ArgumentParser(description="Print the events Inlet POSTs.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    parser.add_argument("--secret", default=os.environ.get("INLET_WEBHOOK_SECRET"))
    args = parser.parse_args()
    if not args.secret:
        parser.error("give --secret or set INLET_WEBHOOK_SECRET")
    Handler.secret = args.secret.encode()
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    host, port = server.server_address[:2]
    print(f"listening on http://{host!s}:{port}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
        print("stopped", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
