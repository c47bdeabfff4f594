"""`inlet up` end to end on its embedded adapters: an SMTP client sends, the CLI in another
process finds the messages, shows a quarantined one, and retention honours a legal hold."""

import json
import os
import smtplib
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.processes import inlet_process
from tests.support import UNPARSEABLE

pytestmark = pytest.mark.relay

PLAIN = (
    b"From: Alice <alice@example.org>\r\nTo: Bob <bob@example.com>\r\n"
    b"Subject: =?utf-8?b?w6l0w6k=?=\r\nMessage-ID: <up-{n}@example.org>\r\n\r\nhello {n}\r\n"
)


def inlet(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "inlet", *args],
        env={**os.environ, "HOME": str(home)},  # finds the data dir `inlet up` remembered
        capture_output=True,
        text=True,
        timeout=60,
    )


def search(home: Path, *args: str) -> list[dict[str, Any]]:
    done = inlet(home, "search", *args, "--json", "--limit", "1000")
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_send_search_show_hold_and_expire(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with inlet_process(tmp_path, "up", "--data-dir", str(data)) as (proc, port, _):
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
            for n in range(20):
                message = PLAIN.replace(b"{n}", str(n).encode())
                client.sendmail(
                    "alice@example.org", ["bob@example.com", "carol@example.com"], message
                )
            client.sendmail("mallory@example.org", ["bob@example.com"], UNPARSEABLE)
        deadline = time.monotonic() + 30
        while len(found := search(tmp_path, "--to", "bob@EXAMPLE.com")) < 21:
            assert time.monotonic() < deadline, f"only {len(found)} searchable"
            time.sleep(0.2)
        proc.terminate()
        assert proc.wait(20) == 0

    assert [e["subject"] for e in found if e["status"] == "parsed"] == ["été"] * 20
    assert len(search(tmp_path, "--to", "carol@example.com")) == 20
    assert [e["subject"] for e in search(tmp_path, "--message-id", "<up-7@example.org>")] == ["été"]
    [bad] = [e for e in found if e["status"] == "quarantined"]
    assert bad["mail_from"] == "mallory@example.org"
    shown = inlet(tmp_path, "show", bad["id"])
    assert shown.returncode == 0, shown.stderr
    assert "status:      quarantined" in shown.stdout
    assert "reason:" in shown.stdout
    record = json.loads(inlet(tmp_path, "show", bad["id"], "--json").stdout)
    assert record["status"] == "quarantined"
    assert record["reason"]

    keep, keep_mid = found[3]["id"], found[3]["message_id"]
    assert inlet(tmp_path, "hold", keep).returncode == 0
    dry = inlet(tmp_path, "retention", "--retention-days", "0", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.count("would remove") == 21  # 20 lines and the summary
    assert len(search(tmp_path, "--to", "bob@example.com")) == 21
    gone = inlet(tmp_path, "retention", "--retention-days", "0", "--json")
    assert gone.returncode == 0, gone.stderr
    report = json.loads(gone.stdout)
    assert (report["expired"], report["held"], report["failed"]) == (20, 1, 0)
    assert [e["id"] for e in search(tmp_path, "--to", "bob@example.com")] == [keep]
    assert f"Message-ID: {keep_mid}" in inlet(tmp_path, "show", keep, "--raw").stdout
    assert inlet(tmp_path, "release", keep).returncode == 0
    assert (
        json.loads(inlet(tmp_path, "retention", "--retention-days", "0", "--json").stdout)[
            "expired"
        ]
        == 1
    )
    assert [p.name for p in (data / "raw").rglob("*.eml")] == []


def test_cli_errors_have_exit_codes(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    assert inlet(tmp_path, "search", "--data-dir", data).returncode == 2  # no field
    bad_time = inlet(
        tmp_path, "search", "--to", "a@b.c", "--since", "yesterday", "--data-dir", data
    )
    assert bad_time.returncode == 2
    assert "--since" in bad_time.stderr
    assert inlet(tmp_path, "hold", "nope", "--data-dir", data).returncode == 2
    missing = inlet(tmp_path, "hold", "01M8505DEHFP91FC8XWA1HV0V7", "--data-dir", data)
    assert missing.returncode == 1
    assert "no message" in missing.stderr
    bad_limit = inlet(tmp_path, "search", "--to", "a@b.c", "--limit", "0", "--data-dir", data)
    assert bad_limit.returncode == 2
    half = inlet(tmp_path, "search", "--to", "a@b.c", "--bucket", "b")
    assert half.returncode == 2
    assert "INLET_TABLE" in half.stderr
