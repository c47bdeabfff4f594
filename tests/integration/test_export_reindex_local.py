"""`inlet export` and `inlet reindex` on the data dir of a real `inlet up`: mail sent over SMTP,
held, the index file deleted and rebuilt (searches, `inlet show` and the hold as before), and
exports that read back to the bytes `inlet show --raw` prints."""

import hashlib
import json
import mailbox
import os
import smtplib
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from inlet.cli.wiring import INDEX_FILE
from tests.cli import run_cli
from tests.dns_server import DnsServer
from tests.processes import inlet_process, wait_for

pytestmark = pytest.mark.integration

BODIES = [
    b"Subject: plain\r\n\r\nhello\r\n",
    b"Subject: quoting\r\n\r\nFrom the start of a line\r\n>From quoted\r\n>>From twice\r\n",
    b"Subject: last\r\nCc: carol@example.com\r\n\r\n" + b"a long line " * 20_000 + b"\r\n",
]


def search(home: Path, *args: str) -> list[dict[str, Any]]:
    """`inlet search ... --json` from another terminal (it finds the data dir `inlet up` noted)."""
    done = subprocess.run(
        [sys.executable, "-m", "inlet", "search", *args, "--json"],
        env={**os.environ, "HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_reindex_then_export_after_inlet_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dns: DnsServer
) -> None:
    monkeypatch.setenv("INLET_DNS_RESOLVER", dns.address)
    data = tmp_path / "data"
    with inlet_process(tmp_path, "up", "--data-dir", str(data)) as (proc, port, _):
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
            for n, body in enumerate(BODIES):
                headers = "From: Alice <alice@example.org>\r\nTo: bob@example.com\r\n"
                headers += f"Message-ID: <export-{n}@example.org>\r\n"
                client.sendmail("alice@example.org", ["bob@example.com"], headers.encode() + body)
        wait_for(
            lambda: (
                [e["status"] for e in search(tmp_path, "--to", "bob@example.com")] == ["parsed"] * 3
            ),
            timeout=30,
        )
        found = search(tmp_path, "--to", "bob@example.com")
        held = found[1]["id"]
        ran = run_cli("hold", held, "--data-dir", str(data), "--reason", "case 1")
        assert ran.returncode == 0, ran.stderr
        proc.terminate()
        assert proc.wait(20) == 0

    ids = [entry["id"] for entry in found]
    queries = [("--to", "bob@example.com"), ("--to", "carol@example.com")]
    queries += [("--from", "alice@example.org"), ("--message-id", "export-1@example.org")]
    before = {q: search(tmp_path, *q) for q in queries}
    shown = {i: run_cli("show", i, "--data-dir", str(data)).stdout for i in ids}
    assert "held:        yes" in shown[held]
    for name in (INDEX_FILE, f"{INDEX_FILE}-wal", f"{INDEX_FILE}-shm"):
        (data / name).unlink(missing_ok=True)

    rebuilt = run_cli("reindex", "--data-dir", str(data), "--json")

    assert rebuilt.returncode == 0, rebuilt.stderr
    report = json.loads(rebuilt.stdout)
    assert (report["documents"], report["stored_only"], report["failed"]) == (3, 0, 0)
    assert report["holds_applied"] == 1
    assert {q: search(tmp_path, *q) for q in queries} == before
    assert {i: run_cli("show", i, "--data-dir", str(data)).stdout for i in ids} == shown

    raws = {i: run_cli("show", i, "--raw", "--data-dir", str(data)).raw for i in ids}
    mbox_path = tmp_path / "mbox" / "bob.mbox"
    mbox = run_cli(
        "export", "--to", "bob@example.com", "--format", "mbox", "--output", str(mbox_path),
        "--data-dir", str(data),
    )  # fmt: skip
    eml_dir = tmp_path / "eml"
    eml = run_cli(
        "export", "--from", "alice@example.org", "--format", "eml", "--output", str(eml_dir),
        "--data-dir", str(data),
    )  # fmt: skip

    assert mbox.returncode == 0, mbox.stderr
    assert mbox.stdout.startswith(f"exported 3 messages ({sum(map(len, raws.values()))} bytes)")
    box = mailbox.mbox(mbox_path, create=False)
    try:
        assert len(box) == 3
        assert [m["Message-ID"] for m in box] == [r["message_id"] for r in found]
    finally:
        box.close()
    text = mbox_path.read_bytes()
    assert b"\r\n>From the start of a line\r\n>>From quoted\r\n>>>From twice\r\n" in text
    assert eml.returncode == 0, eml.stderr
    for manifest in (mbox_path.parent / "manifest.json", eml_dir / "manifest.json"):
        entries = json.loads(manifest.read_bytes())
        assert [e["id"] for e in entries] == ids  # search order: newest first
        for entry in entries:
            assert entry["sha256"] == hashlib.sha256(raws[entry["id"]]).hexdigest()
            assert entry["size"] == len(raws[entry["id"]])
    for message_id, raw in raws.items():
        assert (eml_dir / f"{message_id}.eml").read_bytes() == raw
    again = run_cli(
        "export", "--to", "bob@example.com", "--format", "eml", "--output", str(eml_dir),
        "--data-dir", str(data),
    )  # fmt: skip
    assert again.returncode == 2
    assert "not an empty directory" in again.stderr
