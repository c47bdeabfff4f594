"""What the CLI prints for people: fields a client wrote cannot drive the terminal."""

import base64
from datetime import UTC, datetime
from pathlib import Path

import pytest

from inlet.blobstore.filesystem import FilesystemBlobStore
from inlet.cli.terminal import printable
from inlet.cli.wiring import INDEX_FILE
from inlet.events import NoEvents
from inlet.ids import mint_id
from inlet.index.sqlite import SqliteIndex
from inlet.message_store import MessageStore
from inlet.pipeline import index_parsed, no_verdicts, parse_stored
from tests.builders import make_draft
from tests.cli import run_cli

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("plain ünïcode", "plain ünïcode"),
        ("\x1b[2Jclear", "\\x1b[2Jclear"),
        ("\x1b]0;title\x07", "\\x1b]0;title\\x07"),
        ("c1 \x9b31m", "c1 \\x9b31m"),
        ("del\x7f", "del\\x7f"),
        ("abc\u202egnp.exe", "abc\\u202egnp.exe"),
        ("tab\tnewline\n", "tab\\x09newline\\x0a"),
    ],
)
def test_control_and_bidi_characters_are_shown_as_escapes(text: str, shown: str) -> None:
    assert printable(text) == shown


def test_show_and_search_escape_what_the_client_wrote(tmp_path: Path) -> None:
    messages = MessageStore(FilesystemBlobStore(tmp_path))
    subject = base64.b64encode(b"\x1b[2Jhi").decode()
    incoming = messages.begin(mint_id())
    incoming.write(f"Subject: =?utf-8?b?{subject}?=\r\n\r\nbody\r\n".encode())
    incoming.commit(
        make_draft(id=incoming.id, helo="evil\x1b]0;pwned\x07", rcpt_to=["b@example.com"])
    )
    index = SqliteIndex(tmp_path / INDEX_FILE)
    parse_stored(messages, incoming.id, now=datetime.now(UTC), verdicts=no_verdicts)
    index_parsed(messages, index, incoming.id, events=NoEvents())
    index.close()
    shown = run_cli("show", incoming.id, "--data-dir", str(tmp_path))
    found = run_cli("search", "--to", "b@example.com", "--data-dir", str(tmp_path))
    for ran in (shown, found):
        assert ran.returncode == 0, ran.stderr
        assert b"\x1b" not in ran.raw
    assert b"helo evil\\x1b]0;pwned\\x07" in shown.raw
    assert b"subject:     \\x1b[2Jhi" in shown.raw
    assert b"\\x1b[2Jhi" in found.raw
