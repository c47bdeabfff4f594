"""Every real-world message in the shared corpora is parsed, and nothing in it is lost.

The corpora (tests.support.SHARED_CORPORA) are other MIME parsers' fixtures, read where they
lie. For each message: no exception escapes the parser; it is parsed, or refused with a reason
(quarantined); every MIME leaf part with content is the text, the html or an attachment; each
attachment's entry describes the bytes handed to save_attachment; and where mail-mime-parser's
reference files hold a file of an attachment's name, the bytes are that file's, but for two
differences of principle with that project (see _matches_reference).

The tree walked for "every leaf" is the stdlib's own parse of the bytes (policy.default), not
the parser's: the parser's walk is what is being checked.
"""

import email
import hashlib
import re
from collections.abc import Iterator
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from inlet import keys
from inlet.parsing import ParseError
from inlet.parsing.filenames import sanitize
from tests.corpus import Recorder, assert_valid, parse
from tests.support import NO_SHARED_CORPORA, SHARED_CORPORA, shared_corpus_messages

pytestmark = pytest.mark.unit

REFERENCE_FILES = SHARED_CORPORA / "mail-mime-parser" / "files"
_BEGIN = re.compile(r"^begin [0-7]{3,4} \S", re.MULTILINE)
# Transfer encodings whose decoding the stdlib and the parser must agree on, byte for byte.
_PLAIN_ENCODINGS = frozenset({"", "7bit", "8bit", "binary", "base64", "quoted-printable"})


def _params() -> list[Any]:
    messages = shared_corpus_messages()
    if not messages:
        return [pytest.param(None, id="absent", marks=pytest.mark.skip(reason=NO_SHARED_CORPORA))]
    return [pytest.param(path, id=f"{path.parent.parent.name}/{path.name}") for path in messages]


def _references() -> dict[str, bytes]:
    """Reference files by their name and by the name the parser would give them."""
    found: dict[str, bytes] = {}
    if REFERENCE_FILES.is_dir():
        for path in sorted(REFERENCE_FILES.iterdir()):
            found[path.name] = found[sanitize(path.name)] = path.read_bytes()
    return found


def _leaves(root: EmailMessage) -> Iterator[EmailMessage]:
    """The leaf parts in walk order; a message/* part is one leaf (it is one attachment)."""
    pending = [root]
    while pending:
        part = pending.pop()
        payload = part.get_payload()
        if isinstance(payload, list) and part.get_content_maintype() == "multipart":
            pending.extend(reversed(payload))
        else:
            yield part


def _body(root: EmailMessage, subtype: str) -> EmailMessage | None:
    try:
        return root.get_body(preferencelist=(subtype,))  # type: ignore[return-value]
    except Exception:  # what the parser notes as "no <subtype> body"
        return None


def _content(part: EmailMessage) -> bytes:
    if isinstance(part.get_payload(), list):  # an embedded message
        return part.as_bytes()
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else b""


def _text(part: EmailMessage) -> str:
    try:
        text = part.get_content()
    except Exception:  # a charset or header the stdlib cannot read
        text = _content(part).decode("latin-1")
    return text if isinstance(text, str) else ""


def _skeleton(text: str) -> str:
    """The ASCII letters and digits of a text: what every reading of its charset agrees on."""
    return "".join(char for char in text if char.isascii() and char.isalnum())


def _is_subsequence(short: str, long: str) -> bool:
    rest = iter(long)
    return all(char in rest for char in short)


def _check_entries(document: Any, recorder: Recorder) -> None:
    assert len(recorder.calls) == len(document["attachments"])
    for entry, (key, data, content_type) in zip(
        document["attachments"], recorder.calls, strict=True
    ):
        assert entry["key"] == key
        assert entry["size"] == len(data)
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert entry["content_type"] == content_type
        assert key == keys.attachment_key(recorder.message_id, entry["index"], entry["filename"])


def _check_body(leaf: EmailMessage, parsed: str | None, path: Path, field: str) -> int:
    """That the body field holds the leaf's text; how many uuencoded files left it."""
    assert parsed is not None, f"{path.name}: the {field} body part is not in {field!r}"
    written = _text(leaf)
    removed = len(_BEGIN.findall(written)) - len(_BEGIN.findall(parsed))
    if removed:
        assert _is_subsequence(_skeleton(parsed), _skeleton(written)), f"{path.name}: {field}"
    else:
        assert _skeleton(parsed) == _skeleton(written), f"{path.name}: {field} differs"
    return removed


def _check_nothing_lost(raw: bytes, document: Any, recorder: Recorder, path: Path) -> None:
    root = email.message_from_bytes(raw, _class=EmailMessage, policy=policy.default)
    assert isinstance(root, EmailMessage)
    bodies = {"text": _body(root, "plain"), "html": _body(root, "html")}
    attachments = iter(enumerate(recorder.calls))
    for leaf in _leaves(root):
        field = next((name for name, body in bodies.items() if body is leaf), None)
        if field is not None:
            for _ in range(_check_body(leaf, document[field], path, field)):
                index, (_, data, _) = next(attachments)
                assert data, f"{path.name}: uuencoded attachment {index} is empty"
            continue
        content = _content(leaf)
        step = next(attachments, None)
        assert step is not None or not content.strip(), (
            f"{path.name}: a {leaf.get_content_type()} part is neither a body nor an attachment"
        )
        if step is None:
            continue
        index, (_, data, _) = step
        if content.strip():
            assert data, f"{path.name}: attachment {index} lost its content"
        encoding = str(leaf.get("content-transfer-encoding", "")).strip().lower()
        if (
            not leaf.defects
            and encoding in _PLAIN_ENCODINGS
            and isinstance(leaf.get_payload(), str)
        ):
            assert data == content, f"{path.name}: attachment {index} differs from its part"
    assert next(attachments, None) is None, f"{path.name}: attachments no part accounts for"


REFERENCES = _references()


def _parse(raw: bytes) -> tuple[Any, Recorder] | str:
    """The document and what was saved, or the reason it is quarantined (any other exception
    escapes: that is a failure)."""
    try:
        return parse(raw)
    except ParseError as exc:
        return str(exc)


def _matches_reference(data: bytes, reference: bytes, content_type: str) -> bool:
    """`data` is the reference file, but where the other project decided otherwise:
    - it keeps the CRLF before a boundary in the part (m0022's aaa.txt); RFC 2046 §5.1.1
      has that CRLF belong to the boundary, so the part ends before it;
    - it decodes BinHex (m2011's blueball.png); BinHex is a file format, not a transfer
      encoding, and the attachment is stored as sent, like any other format."""
    if content_type == "application/mac-binhex40":
        return data.startswith(b"\r\n(This file must be converted with BinHex")
    return data in (reference, reference.removesuffix(b"\r\n"))


@pytest.mark.parametrize("path", _params())
def test_every_shared_corpus_message_is_parsed_with_nothing_lost(path: Path) -> None:
    raw = path.read_bytes()
    parsed = _parse(raw)
    if isinstance(parsed, str):  # quarantined: allowed only with a reason
        assert parsed.strip(), f"{path.name}: quarantined without a reason"
        return
    document, recorder = parsed
    assert document["status"] == "parsed"
    assert_valid(document)
    _check_entries(document, recorder)
    _check_nothing_lost(raw, document, recorder, path)
    for entry, (_, data, _) in zip(document["attachments"], recorder.calls, strict=True):
        reference = REFERENCES.get(entry["filename"])
        if reference is not None:
            assert _matches_reference(data, reference, entry["content_type"]), (
                f"{path.name}: {entry['filename']} differs from its file"
            )
