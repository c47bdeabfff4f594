"""`inlet reprocess` on the local data dir while `inlet up` (a real process) runs on it: the
SQLite index and the files are shared between the two, as with a second terminal."""

import json
import os
import smtplib
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from inlet import keys
from inlet.blobstore.filesystem import FilesystemBlobStore
from inlet.cli.wiring import INDEX_FILE
from inlet.index.sqlite import SqliteIndex
from inlet.message_store import MessageStore
from inlet.parsing import PARSER_VERSION
from tests.cli import run_cli
from tests.dns_server import DnsServer
from tests.processes import inlet_process, wait_for
from tests.stored import store_message
from tests.unit.test_reprocess import MESSAGE, write_older_parse

pytestmark = pytest.mark.integration


def test_reprocess_while_inlet_up_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dns: DnsServer
) -> None:
    # inlet up and the CLI ask the test DNS server for their verdicts.
    monkeypatch.setenv("INLET_DNS_RESOLVER", dns.address)
    data = tmp_path / "data"
    messages = MessageStore(FilesystemBlobStore(data))
    index = SqliteIndex(data / INDEX_FILE)
    # What an earlier Inlet left in the data dir: parsed by parser 0, indexed.
    older = [store_message(messages, MESSAGE) for _ in range(3)]
    for envelope in older:
        write_older_parse(messages, index, envelope)
    index.close()

    with inlet_process(tmp_path, "up", "--data-dir", str(data)) as (proc, port, _):
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
            client.sendmail("alice@example.org", ["bob@example.com"], MESSAGE)
        # ... and one message `inlet up` parses itself, with the current parser: the only one
        # found by its To until the older three are reprocessed (parser 0 misread theirs).
        wait_for(lambda: len(search(tmp_path, "bob@example.com")) == 1, timeout=20)
        assert len(search(tmp_path, "misread@example.net")) == 3

        ran = run_cli("reprocess", "--data-dir", str(data), "--json")

        assert ran.returncode == 0, ran.stderr
        report = json.loads(ran.stdout)
        assert (report["examined"], report["parsed"], report["failed"]) == (4, 4, 0)
        assert report["attachments_removed"] == 3  # the older parses' names, not the new one's
        for envelope in older:
            document: dict[str, Any] = messages.load_document(envelope.id)  # type: ignore[assignment]
            assert document["parser_version"] == PARSER_VERSION
            assert list(messages.blobs.list(keys.attachments_prefix(envelope.id))) == [
                keys.attachment_key(envelope.id, 0, "q2.pdf")
            ]
        # Another terminal sees the index the server keeps open: stale lookups gone.
        assert search(tmp_path, "misread@example.net") == []
        assert len(search(tmp_path, "bob@example.com")) == 4
        proc.terminate()
        assert proc.wait(20) == 0


def search(home: Path, address: str) -> list[dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, "-m", "inlet", "search", "--to", address, "--json"],
        env={**os.environ, "HOME": str(home)},  # finds the data dir `inlet up` noted
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]
