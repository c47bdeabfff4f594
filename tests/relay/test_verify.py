"""`inlet verify` against a real `inlet up` and a real `inlet relay` on 127.0.0.1: every stage
reported with its latency, and the stage that did not finish named with exit code 1."""

import re
import socket
from pathlib import Path

import pytest

from inlet.blobstore.filesystem import FilesystemBlobStore
from inlet.message_store import MessageStore
from tests.cli import run_cli
from tests.processes import inlet_process

pytestmark = pytest.mark.relay

STAGE = re.compile(r"^(accepted|stored|parsed|searchable) +(\d+\.\d) ms  ")


def verify(port: int, data: Path, *extra: str) -> tuple[int, list[str], str]:
    ran = run_cli(
        "verify",
        "--smtp-host",
        "127.0.0.1",
        "--smtp-port",
        str(port),
        "--data-dir",
        str(data),
        *extra,
    )
    return ran.returncode, ran.stdout.splitlines(), ran.stderr


def verify_against(
    tmp_path: Path, data: Path, server: tuple[str, ...], *extra: str
) -> tuple[int, list[str], str]:
    """`inlet verify` against a real `inlet SERVER` process, which must then stop cleanly."""
    with inlet_process(tmp_path, *server, "--data-dir", str(data)) as (proc, port, _):
        result = verify(port, data, *extra)
        proc.terminate()
        assert proc.wait(15) == 0
    return result


def test_every_stage_finishes_against_inlet_up(tmp_path: Path) -> None:
    data = tmp_path / "data"
    code, lines, err = verify_against(
        tmp_path, data, ("up",), "--to", "ops@example.com", "--timeout", "30"
    )
    assert code == 0, err
    stages = [STAGE.match(line) for line in lines[:4]]
    assert [m.group(1) for m in stages if m] == ["accepted", "stored", "parsed", "searchable"]
    latencies = [float(m.group(2)) for m in stages if m]
    assert latencies == sorted(latencies)  # each from the start of the send
    message_id = lines[0].rsplit(" ", 1)[-1]
    assert lines[-1] == f"ok: {message_id} went through every stage"
    raw = MessageStore(FilesystemBlobStore(data)).load_raw(message_id)
    assert b"Subject: inlet verify " in raw
    found = run_cli("search", "--to", "ops@example.com", "--data-dir", str(data))
    assert found.stdout.startswith(message_id)


def test_a_relay_without_a_pipeline_fails_at_the_parsed_stage(tmp_path: Path) -> None:
    data = tmp_path / "data"
    relay = ("relay", "--domains", "example.com")
    code, lines, err = verify_against(
        tmp_path, data, relay, "--to", "ops@example.com", "--timeout", "1.5"
    )
    assert code == 1
    assert [line.split()[0] for line in lines] == ["accepted", "stored"]
    assert "stage 'parsed': not finished before the timeout" in err
    assert err.count("\n") == 1


def test_a_refused_recipient_or_no_server_fails_at_the_accepted_stage(tmp_path: Path) -> None:
    data = tmp_path / "data"
    code, lines, err = verify_against(
        tmp_path, data, ("up",), "--to", "ops@elsewhere.org", "--timeout", "10"
    )
    assert (code, lines) == (1, [])
    assert "stage 'accepted': RCPT TO <ops@elsewhere.org> refused: 550 5.7.1" in err
    with socket.socket() as probe:  # a port nothing listens on any more
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    code, lines, err = verify(free, data, "--to", "ops@example.com", "--timeout", "2")
    assert (code, lines) == (1, [])
    assert f"stage 'accepted': SMTP to 127.0.0.1:{free} failed" in err


@pytest.mark.parametrize("timeout", ["0", "-1", "5000"])
def test_a_timeout_out_of_range_is_bad_usage(tmp_path: Path, timeout: str) -> None:
    code, _, err = verify(1, tmp_path, "--to", "ops@example.com", "--timeout", timeout)
    assert code == 2
    assert "--timeout" in err
