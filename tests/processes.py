"""Test helpers: `inlet` as a real process (for what needs one: `up`, drain, signals)."""

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support import RawSMTP

INLET = [sys.executable, "-m", "inlet"]
READY = re.compile(r"SMTP on 127\.0\.0\.1:(\d+).*health on http://127\.0\.0\.1:(\d+)/healthz")


@contextmanager
def inlet_process(
    tmp_path: Path,
    *args: str,
    env: dict[str, str] | None = None,
    preexec: Callable[[], None] | None = None,
) -> Iterator[tuple[subprocess.Popen[str], int, int]]:
    out = open(tmp_path / "stdout", "w+")  # noqa: SIM115 - read after the process ends
    err = open(tmp_path / "stderr", "w+")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            *INLET,
            *args,
            "--smtp-host",
            "127.0.0.1",
            "--smtp-port",
            "0",
            "--health-port",
            "0",
            "--hostname",
            "relay.test",
        ],
        stdout=out,
        stderr=err,
        text=True,
        env={**(os.environ if env is None else env), "HOME": str(tmp_path)},
        preexec_fn=preexec,  # only resource limits, set before exec
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            out.seek(0)
            match = READY.search(out.read())
            if match or proc.poll() is not None:
                break
            time.sleep(0.05)
        assert match, (tmp_path / "stderr").read_text()
        yield proc, int(match.group(1)), int(match.group(2))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        out.close()
        err.close()


def wait_for(predicate: Callable[[], object], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def start_data(port: int) -> RawSMTP:
    client = RawSMTP(port)
    client.reply()
    client.cmd("EHLO client.test")
    client.cmd("MAIL FROM:<a@example.org>")
    client.cmd("RCPT TO:<b@example.com>")
    assert client.cmd("DATA").startswith("354")
    return client
