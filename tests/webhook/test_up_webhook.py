"""`inlet up --webhook-url` end to end: messages sent over SMTP reach a real HTTP receiver
signed; failures are retried from the outbox across a SIGKILL and a restart; what gave up is
shown by `inlet show` and sent again by `inlet replay`."""

import json
import os
import signal
import smtplib
import subprocess
import sys
import time
from pathlib import Path

import pytest

from inlet.events import event_of
from inlet.webhook.delivery import WebhookDeliverer
from inlet.webhook.outbox import Outbox
from inlet.webhook.signature import verify
from tests.processes import inlet_process, wait_for
from tests.support import UNPARSEABLE
from tests.webhook.receiver import Script, free_port, receiver

pytestmark = pytest.mark.relay

SECRET = "an-up-webhook-secret"
MESSAGE = (
    b"From: Alice <alice@example.org>\r\nTo: bob@example.com\r\nSubject: hook {n}\r\n"
    b"Message-ID: <hook-{n}@example.org>\r\n\r\nhello\r\n"
)


def up_args(data: Path, url: str, *extra: str) -> list[str]:
    return ["up", "--data-dir", str(data), "--webhook-url", url, *extra]


def hook_env() -> dict[str, str]:
    return {**os.environ, "INLET_WEBHOOK_SECRET": SECRET}  # the secret never on a command line


def inlet(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "inlet", *args],
        env={**os.environ, "HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=60,
    )


def send(port: int, *messages: bytes) -> list[str]:
    """Send each message; the ids from the 250 replies."""
    ids = []
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.ehlo()
        for message in messages:
            client.mail("alice@example.org")
            client.rcpt("bob@example.com")
            code, reply = client.data(message)
            assert code == 250, reply
            ids.append(reply.decode().split("queued as ")[1].split()[0])
    return ids


def tried(pending: Path) -> list[int]:
    return [json.loads(p.read_bytes())["attempts"] for p in pending.glob("*.json")]


def message(n: int) -> bytes:
    return MESSAGE.replace(b"{n}", str(n).encode())


def test_each_message_reaches_the_receiver_signed_as_its_event(tmp_path: Path) -> None:
    script = Script([204])
    with (
        receiver(script) as url,
        inlet_process(tmp_path, *up_args(tmp_path / "d", url), env=hook_env()) as (proc, port, _),
    ):
        [ok, bad] = send(port, message(1), UNPARSEABLE)
        wait_for(lambda: len(script.requests) == 2, timeout=20)
        proc.terminate()
        assert proc.wait(20) == 0
    stdout = (tmp_path / "stdout").read_text()
    assert f"webhook to 127.0.0.1:{url.split(':')[2].split('/')[0]}" in stdout
    assert SECRET not in stdout + (tmp_path / "stderr").read_text()
    by_id = {json.loads(r.body)["detail"]["id"]: r for r in script.requests}
    assert set(by_id) == {ok, bad}
    for message_id, kind in ((ok, "Message Received"), (bad, "Message Quarantined")):
        request = by_id[message_id]
        assert verify(SECRET, request.body, request.headers["Inlet-Signature"], now=time.time())
        shown = inlet(tmp_path, "show", message_id, "--json")
        assert shown.returncode == 0, shown.stderr
        expected = event_of(json.loads(shown.stdout))
        assert json.loads(request.body) == expected
        assert expected is not None
        assert expected["detail-type"] == kind
        assert request.headers["Inlet-Event-Id"] == expected["detail"]["event_id"]
        lines = inlet(tmp_path, "show", message_id).stdout
        assert f"webhook:     delivered {expected['detail']['event_id']} at " in lines


def test_a_503_is_retried_until_the_receiver_takes_it(tmp_path: Path) -> None:
    script = Script([503, 503, 200])
    args = up_args(tmp_path / "d", "", "--webhook-retry-seconds", "1")
    with receiver(script) as url:
        args[4] = url
        with inlet_process(tmp_path, *args, env=hook_env()) as (proc, port, _):
            [message_id] = send(port, message(2))
            wait_for(lambda: len(script.requests) == 3, timeout=20)
            wait_for(lambda: "delivered" in inlet(tmp_path, "show", message_id).stdout, 10)
            proc.terminate()
            assert proc.wait(20) == 0
    [a, b, c] = script.requests
    assert a.body == b.body == c.body
    assert 0.9 < b.at - a.at < 3
    assert 1.9 < c.at - b.at < 5
    stderr = (tmp_path / "stderr").read_text()
    assert stderr.count("webhook failed, will retry") == 2
    assert '"error": "HTTP 503"' in stderr


def test_nothing_is_lost_when_the_receiver_is_down_and_inlet_up_is_killed(tmp_path: Path) -> None:
    data, port = tmp_path / "d", free_port()
    url = f"http://127.0.0.1:{port}/hooks/inlet"
    args = up_args(data, url, "--webhook-retry-seconds", "1")
    pending = data / "outbox" / "pending"
    with inlet_process(tmp_path, *args, env=hook_env()) as (proc, smtp_port, _):
        ids = send(smtp_port, *(message(n) for n in range(5)))
        wait_for(lambda: len(list(pending.glob("*.json"))) == 5, timeout=20)
        wait_for(
            lambda: all(
                json.loads(p.read_bytes())["attempts"] >= 1 for p in pending.glob("*.json")
            ),
            timeout=20,
        )
        shown = inlet(tmp_path, "show", ids[0]).stdout
        assert "webhook:     pending" in shown
        assert "last error: Connection refused" in shown
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)

    script = Script([204])
    with receiver(script, port), inlet_process(tmp_path, *args, env=hook_env()) as (proc, _, _):
        wait_for(lambda: len(script.requests) >= 5, timeout=30)
        proc.terminate()
        assert proc.wait(20) == 0
    delivered = {r.headers["Inlet-Event-Id"] for r in script.requests}
    assert delivered == {f"{i}:received" for i in ids}
    assert list(pending.glob("*.json")) == []


def test_what_gave_up_is_shown_failed_and_replay_sends_it_again(tmp_path: Path) -> None:
    data = tmp_path / "d"
    script = Script([500])
    with receiver(script) as url:
        with inlet_process(tmp_path, *up_args(data, url), env=hook_env()) as (proc, port, _):
            [message_id] = send(port, message(3))
            wait_for(lambda: len(script.requests) == 1, timeout=20)
            proc.terminate()
            assert proc.wait(20) == 0
        # The day of retries, walked through on a clock a day ahead (the deliverer of
        # `inlet up` is this class; its thread is what the tests above run).
        outbox = Outbox(data / "outbox")
        late = WebhookDeliverer(outbox, url, SECRET, clock=lambda: time.time() + 86400)
        late.deliver_due()
    assert late.failed == 1
    shown = inlet(tmp_path, "show", message_id)
    assert f"webhook:     FAILED {message_id}:received: gave up at " in shown.stdout
    assert "after 2 attempts (last error: HTTP 500)" in shown.stdout
    assert f"`inlet replay --id {message_id}` sends it again" in shown.stdout

    replayed = inlet(tmp_path, "replay", "--id", message_id)
    assert replayed.returncode == 0, replayed.stderr
    assert "webhook:     pending" in inlet(tmp_path, "show", message_id).stdout

    script = Script([204])
    with (
        receiver(script) as url,
        inlet_process(tmp_path, *up_args(data, url), env=hook_env()) as (proc, _, _),
    ):
        wait_for(lambda: len(script.requests) == 1, timeout=20)
        proc.terminate()
        assert proc.wait(20) == 0
    assert script.requests[0].headers["Inlet-Event-Id"] == f"{message_id}:received"
    assert "webhook:     delivered" in inlet(tmp_path, "show", message_id).stdout
