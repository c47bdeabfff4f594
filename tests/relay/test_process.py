"""The `inlet` command as a user runs it: a real process, real signals, real exit codes."""

import json
import os
import signal
import subprocess
import time
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from inlet.blobstore.filesystem import FilesystemBlobStore
from inlet.message_store import MessageStore
from tests.cli import run_cli
from tests.processes import INLET, inlet_process, start_data, wait_for
from tests.support import RawSMTP, health_status, queued_id

pytestmark = pytest.mark.relay


def draining_relay(
    tmp_path: Path, data: Path, *, drain_seconds: int
) -> AbstractContextManager[tuple[subprocess.Popen[str], int, int]]:
    return inlet_process(
        tmp_path,
        "relay",
        "--domains",
        "example.com",
        "--data-dir",
        str(data),
        "--drain-seconds",
        str(drain_seconds),
    )


def test_sigterm_drains_a_session_mid_data(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with draining_relay(tmp_path, data, drain_seconds=20) as (proc, port, health):
        busy = start_data(port)
        busy.send(b"Subject: drain\r\n\r\nfirst half\r\n")
        idle = RawSMTP(port)
        idle.reply()
        idle.cmd("EHLO idle.test")
        proc.send_signal(signal.SIGTERM)
        wait_for(lambda: health_status(health) == 503)
        assert idle.reply().startswith("421 4.3.2")  # told, then closed
        late = RawSMTP(port)
        assert late.reply().startswith("421 4.3.2")
        late.close()
        assert proc.poll() is None  # still waiting for the session in DATA
        busy.send(b"second half\r\n.\r\n")
        mid = queued_id(busy.reply().strip())
        assert busy.reply().startswith("421 4.3.2")
        busy.close()
        idle.close()
        assert proc.wait(10) == 0
    assert (
        MessageStore(FilesystemBlobStore(data))
        .load_raw(mid)
        .endswith(b"first half\r\nsecond half\r\n")
    )


def test_drain_deadline_cuts_unfinished_data_and_leaves_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with draining_relay(tmp_path, data, drain_seconds=1) as (proc, port, _):
        stuck = start_data(port)
        stuck.send(b"x" * 3_000_000)  # past one write batch: a temporary file exists
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
        with pytest.raises(ConnectionError):
            stuck.reply()
        stuck.close()
    store = FilesystemBlobStore(data)
    assert list(store.list("")) == []
    assert list((data / ".tmp").iterdir()) == []


def test_up_then_show_from_another_terminal(tmp_path: Path) -> None:
    workdir = tmp_path / "project"
    workdir.mkdir()
    with inlet_process(tmp_path, "up", "--data-dir", str(workdir / "inlet-data")) as (
        proc,
        port,
        _,
    ):
        client = start_data(port)
        client.send(b"Subject: hello\r\n\r\nfrom up\r\n.\r\n")
        mid = queued_id(client.reply().strip())
        client.close()
        # Another terminal: another directory, no flags; it finds the data dir of `inlet up`.
        env = {**os.environ, "HOME": str(tmp_path)}
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        raw = subprocess.run(
            [*INLET, "show", mid, "--raw"],
            cwd=elsewhere,
            env=env,
            capture_output=True,
            timeout=30,
            check=True,
        ).stdout
        assert raw.startswith(b"Received: from client.test")
        assert raw.endswith(b"\r\nfrom up\r\n")
        shown = subprocess.run(
            [*INLET, "show", mid, "--json"],
            cwd=elsewhere,
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
        document = json.loads(shown)  # parsed by now, or still in flight ("stored")
        assert document["id"] == mid
        assert document["status"] in ("stored", "parsed")
        assert document["envelope"]["rcpt_to"] == ["b@example.com"]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(15) == 0


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["relay"], 2, "INLET_DOMAINS (--domains) is required"),
        (["up", "--max-message-size", "lots"], 2, "must be a whole number"),
        (["show", "not-an-id"], 2, "not an Inlet message id"),
        (["show", "01M84ZS4Q2B042PZ6NFKAE3386"], 1, "no message 01M84ZS4Q2B042PZ6NFKAE3386"),
    ],
)
def test_errors_are_one_line_with_an_exit_code(
    tmp_path: Path,
    args: list[str],
    code: int,
    message: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in [k for k in os.environ if k.startswith("INLET_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    result = run_cli(*args, *(["--data-dir", str(tmp_path)] if args[0] == "show" else []))
    assert result.returncode == code
    assert message in result.stderr
    assert result.stderr.count("\n") == 1
