"""examples/webhook_receiver.py as users run it: a real process on 127.0.0.1 that takes events
signed by inlet.webhook.signature.sign, drops duplicates and refuses what is not Inlet's."""

import ast
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest

from inlet.document import Document
from inlet.events import Event, event_of, to_json
from inlet.webhook.signature import sign
from tests.builders import make_document
from tests.processes import wait_for

pytestmark = pytest.mark.relay

SCRIPT = Path(__file__).parents[2] / "examples" / "webhook_receiver.py"
SECRET = "an-example-receiver-secret"
READY = re.compile(r"listening on http://127\.0\.0\.1:(\d+)\n")


@dataclass
class Receiver:
    url: str
    stdout: Path

    def lines(self) -> list[str]:
        return self.stdout.read_text().splitlines()

    def wait_for_line(self, line: str) -> None:
        wait_for(lambda: line in self.lines())


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[Receiver]:
    stdout = tmp_path / "stdout"
    env = {**os.environ, "INLET_WEBHOOK_SECRET": SECRET}
    with open(stdout, "w") as out, open(tmp_path / "stderr", "w") as err:
        proc = subprocess.Popen(
            [sys.executable, str(SCRIPT), "--host", "127.0.0.1", "--port", "0"],
            stdout=out,
            stderr=err,
            env=env,
            cwd=tmp_path,
        )
    try:
        deadline = time.monotonic() + 10
        match = None
        while match is None and proc.poll() is None and time.monotonic() < deadline:
            match = READY.search(stdout.read_text())
            time.sleep(0.02)
        assert match, (tmp_path / "stderr").read_text()
        yield Receiver(f"http://127.0.0.1:{match.group(1)}/", stdout)
        proc.terminate()
        assert proc.wait(10) == 0, (tmp_path / "stderr").read_text()  # SIGTERM is a clean exit
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def an_event(**fields: Any) -> Event:
    event = event_of(cast(Document, make_document(**fields)))
    assert event is not None
    return event


def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status: int = response.status
            return status
    except urllib.error.HTTPError as error:
        error.close()
        return error.code


def deliver(url: str, event: Event, *, secret: str = SECRET, t: int | None = None) -> int:
    """POST as inlet.webhook.delivery does: the body signed at `t` (now unless given)."""
    body = to_json(event).encode()
    signature = sign(secret, body, int(time.time()) if t is None else t)
    headers = {
        "Content-Type": "application/json",
        "Inlet-Event-Id": event["detail"]["event_id"],
        "Inlet-Signature": signature,
    }
    return post(url, body, headers)


def test_a_signed_event_is_printed_once_and_its_duplicate_dropped(receiver: Receiver) -> None:
    event = an_event()
    message_id = event["detail"]["id"]

    assert deliver(receiver.url, event) == 204
    receiver.wait_for_line(f"Message Received {message_id} from=Author@Example.org subject=Hello")

    assert deliver(receiver.url, event) == 204  # taken before: a 2xx stops Inlet's retries
    receiver.wait_for_line(f"duplicate {message_id}:received")
    assert len(receiver.lines()) == 3  # the ready line, the event, the duplicate


def test_concurrent_events_each_get_a_line_of_their_own(receiver: Receiver) -> None:
    # Requests are handled on threads; print() writes text and newline apart, so without one
    # write per line two events shared a line (7 in 1,000 in bench/pipeline_latency.py).
    events = [an_event() for _ in range(400)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        assert set(pool.map(lambda e: deliver(receiver.url, e), events)) == {204}
    expected = {
        f"Message Received {e['detail']['id']} from=Author@Example.org subject=Hello"
        for e in events
    }
    wait_for(lambda: len(receiver.lines()) >= 401)
    printed = receiver.lines()[1:]
    assert len(printed) == 400
    assert set(printed) == expected


def test_a_quarantined_event_names_the_envelope_sender(receiver: Receiver) -> None:
    event = an_event(status="quarantined", mail_from="bounce@example.net")

    assert deliver(receiver.url, event) == 204
    receiver.wait_for_line(
        f"Message Quarantined {event['detail']['id']} from=bounce@example.net subject="
    )


def test_requests_not_signed_by_the_secret_are_refused(receiver: Receiver) -> None:
    event = an_event()
    body = to_json(event).encode()
    now = int(time.time())

    assert deliver(receiver.url, event, secret="not-the-receiver-secret") == 401
    assert deliver(receiver.url, event, t=now - 600) == 401  # past the 5-minute tolerance
    assert deliver(receiver.url, event, t=now + 600) == 401
    assert post(receiver.url, body, {"Inlet-Event-Id": event["id"]}) == 401
    # Non-ASCII too: int("\u00b2") and compare_digest("é", ...) raise rather than say no.
    malformed = (
        "v1=" + "0" * 64,
        f"t={now}",
        "garbage",
        "t=\u00b2,v1=" + "0" * 64,
        f"t={now},v1=é",
    )
    for header in malformed:
        headers = {"Inlet-Event-Id": event["id"], "Inlet-Signature": header}
        assert post(receiver.url, body, headers) == 401, header
    assert receiver.lines()[1:] == []  # nothing refused was printed or remembered

    assert deliver(receiver.url, event) == 204  # the same event, properly signed, is new


def test_signed_bodies_that_are_not_events_are_refused(receiver: Receiver) -> None:
    event = an_event()
    for body in (b"not json", b"[]", b'{"detail": {}}'):
        headers = {"Inlet-Event-Id": "x", "Inlet-Signature": sign(SECRET, body, int(time.time()))}
        assert post(receiver.url, body, headers) == 400, body
    # The id header is not signed: it must name the event the body carries.
    body = to_json(event).encode()
    signature = sign(SECRET, body, int(time.time()))
    headers = {"Inlet-Event-Id": "other:received", "Inlet-Signature": signature}
    assert post(receiver.url, body, headers) == 400
    assert receiver.lines()[1:] == []


def test_the_example_imports_only_the_standard_library() -> None:
    # Users copy the file alone: an import of inlet (or any package) would break it for them.
    tree = ast.parse(SCRIPT.read_text())
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
    }
    assert imported
    assert imported <= sys.stdlib_module_names
