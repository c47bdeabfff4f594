"""A store that runs out of space mid-message, in a real `inlet up` process: the file size limit
(RLIMIT_FSIZE) makes the kernel refuse writes past it with EFBIG, as a full disk refuses with
ENOSPC, wherever the write falls (in a batch or in the final flush of the commit)."""

import resource
import signal
import smtplib
from pathlib import Path

import pytest

from tests.processes import inlet_process, start_data, wait_for

pytestmark = pytest.mark.relay
LIMIT = 256 * 1024


def limit_file_size() -> None:
    # Without SIG_IGN the kernel kills the process on the first write past the limit.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, LIMIT))


def test_running_out_of_space_is_a_451_and_leaves_no_partial_file(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    sizes = range(LIMIT - 2000, LIMIT + 3000, 97)  # the limit falls in every write position
    replies: list[tuple[int, int]] = []
    with inlet_process(tmp_path, "up", "--data-dir", str(data_dir), preexec=limit_file_size) as (
        _,
        port,
        _health,
    ):
        for size in sizes:
            body = b"Subject: near the limit\r\n\r\n" + b"y" * size
            with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
                try:
                    client.sendmail("a@example.org", ["b@example.com"], body)
                    replies.append((size, 250))
                except smtplib.SMTPDataError as exc:
                    replies.append((size, exc.smtp_code))
        partials = list((data_dir / ".tmp").iterdir())
    codes = {code for _, code in replies}
    assert codes <= {250, 451}, [r for r in replies if r[1] not in (250, 451)]
    # Both sides of the limit were reached.
    assert 250 in codes
    assert 451 in codes
    assert partials == []


def test_a_partial_file_left_by_kill_9_is_removed_when_inlet_up_starts_again(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    with inlet_process(tmp_path, "up", "--data-dir", str(data_dir)) as (proc, port, _health):
        client = start_data(port)
        client.send(b"Subject: cut short\r\n\r\n" + b"z" * (3 * 1024 * 1024))
        wait_for(lambda: any(p.stat().st_size > 0 for p in (data_dir / ".tmp").iterdir()))
        proc.kill()
        proc.wait(10)
        client.close()
    assert list((data_dir / ".tmp").iterdir()) != []
    (tmp_path / "again").mkdir()
    with inlet_process(tmp_path / "again", "up", "--data-dir", str(data_dir)):
        assert list((data_dir / ".tmp").iterdir()) == []
    assert (
        "removed partial files an earlier run left" in (tmp_path / "again" / "stderr").read_text()
    )
