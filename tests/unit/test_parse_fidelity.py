"""Decoding fidelity: seven ways real mail was decoded wrongly, each written here from the RFCs.

1. raw 8-bit bytes inside RFC 2047 encoded words;  2. white space between adjacent encoded
words in display names (RFC 2047 §6.2);  3. charset labels Python has no codec for, in headers;
4. multipart subtypes not recognised (RFC 2046 §5.1.7);  5. base64 one character too long;
6. filenames with a directory path (RFC 2183 §2.3);  7. uuencoded files in a text body.
"""

import base64
import binascii
import hashlib
from typing import Any

import pytest

from inlet import keys
from inlet.parsing.charsets import decode_text
from tests.corpus import PNG, Recorder, parse
from tests.corpus.messages import crlf

pytestmark = pytest.mark.unit


def saved(recorder: Recorder, document: dict[str, Any]) -> list[bytes]:
    """The bytes handed over for each attachment, checked against the document's entries."""
    assert [key for key, _, _ in recorder.calls] == [a["key"] for a in document["attachments"]]
    for attachment, (_, data, _) in zip(document["attachments"], recorder.calls, strict=True):
        assert attachment["size"] == len(data)
        assert attachment["sha256"] == hashlib.sha256(data).hexdigest()
        assert attachment["key"] == keys.attachment_key(
            recorder.message_id, attachment["index"], attachment["filename"]
        )
    return [data for _, data, _ in recorder.calls]


def headers_message(*headers: bytes) -> bytes:
    return crlf(*headers, b"Date: Fri, 01 Mar 2024 12:00:00 +0000", b"", b"body")


def mixed(*parts: bytes, content_type: bytes = b'multipart/mixed; boundary="b"') -> bytes:
    """A message of the given parts (each its header lines, a blank line and its body)."""
    body = b"".join(b"--b\r\n" + part for part in parts)
    return (
        crlf(
            b"From: a@example.org",
            b"Date: Fri, 01 Mar 2024 12:00:00 +0000",
            b"MIME-Version: 1.0",
            b"Content-Type: " + content_type,
            b"",
        )
        + body
        + b"--b--\r\n"
    )


TEXT_PART = crlf(b"Content-Type: text/plain; charset=us-ascii", b"", b"the text")


def png_part(disposition: bytes) -> bytes:
    return crlf(
        b"Content-Type: image/png",
        b"Content-Transfer-Encoding: base64",
        b"Content-Disposition: " + disposition,
        b"",
        base64.b64encode(PNG),
    )


# 1. Raw 8-bit bytes in encoded words ------------------------------------------------------


def test_raw_latin1_bytes_in_an_encoded_subject_are_read_in_the_declared_charset() -> None:
    # Eudora wrote the ö as the byte 0xF6 instead of "=F6".
    document, _ = parse(headers_message(b"Subject: =?iso-8859-1?Q?Die_Hasen_und_die_Fr\xf6sche?="))
    assert document["subject"] == "Die Hasen und die Frösche"
    assert dict(document["headers"])["Subject"] == "Die Hasen und die Frösche"
    assert document["defects"] == [
        "header Subject: raw 8-bit bytes in an encoded word, read as 'iso-8859-1'",
        "header From: missing",
    ]


def test_raw_utf8_bytes_in_an_encoded_display_name_are_read_as_utf8() -> None:
    raw = headers_message(
        b"From: =?utf-8?Q?J\xc3\xb6rg_M\xc3\xbcller?= <joerg@example.de>",
        b"To: Heinz =?iso-8859-1?Q?M\xfcller?= <heinz@example.de>",
    )
    document, _ = parse(raw)
    assert document["from"] == [{"name": "Jörg Müller", "address": "joerg@example.de"}]
    assert document["to"] == [{"name": "Heinz Müller", "address": "heinz@example.de"}]
    assert "header From: raw 8-bit bytes in an encoded word, read as 'utf-8'" in document["defects"]


def test_raw_bytes_in_a_base64_word_are_ignored_with_a_defect() -> None:
    # "Q2Fmw6k=" is "Café"; a raw byte has no place in base64 and carries no bits.
    document, _ = parse(
        headers_message(b"From: a@example.org", b"Subject: =?utf-8?B?Q2Fm\xffw6k=?=")
    )
    assert document["subject"] == "Café"
    assert "header Subject: encoded word: invalid base64 characters ignored" in document["defects"]


# 2. White space between adjacent encoded words in display names ----------------------------


@pytest.mark.parametrize(
    ("phrase", "name"),
    [
        # RFC 2047 §8's examples, as display names.
        (b"=?ISO-8859-1?Q?a?=", "a"),
        (b"=?ISO-8859-1?Q?a?= b", "a b"),
        (b"=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?=", "ab"),
        (b"=?ISO-8859-1?Q?a?=  =?ISO-8859-1?Q?b?=", "ab"),
        (b"=?ISO-8859-1?Q?a?=\r\n    =?ISO-8859-1?Q?b?=", "ab"),
        (b"=?ISO-8859-1?Q?a_b?=", "a b"),
        (b"=?ISO-8859-1?Q?a?= =?ISO-8859-2?Q?_b?=", "a b"),
        (b"=?iso-8859-1?Q?J=FCrgen?= =?iso-8859-1?Q?_Schm=FCrgen?=", "Jürgen Schmürgen"),
        # One character split across two words (§5 forbids it; mailers do it): still one.
        (b"=?utf-8?B?4oI=?= =?utf-8?B?rA==?= 5", "€ 5"),
    ],
)
@pytest.mark.parametrize("field", ["From", "To", "Cc", "Reply-To", "Sender"])
def test_white_space_between_adjacent_encoded_words_is_dropped_in_names(
    field: str, phrase: bytes, name: str
) -> None:
    header = field.encode() + b": " + phrase + b" <someone@example.org>"
    extra = [] if field == "From" else [b"From: x@example.org"]
    document, _ = parse(headers_message(*extra, header))
    key = {"From": "from", "To": "to", "Cc": "cc", "Reply-To": "reply_to"}.get(field)
    found = document["sender"] if key is None else document[key][0]  # type: ignore[literal-required]
    assert found == {"name": name, "address": "someone@example.org"}


def test_white_space_between_adjacent_encoded_words_in_a_subject_is_dropped() -> None:
    raw = headers_message(
        b"From: a@example.org", b"Subject: =?utf-8?q?Gr=C3=BC?=\r\n =?utf-8?q?=C3=9Fe?= aus Wien"
    )
    document, _ = parse(raw)
    assert document["subject"] == "Grüße aus Wien"


# 3. Charset labels Python has no codec for, in headers --------------------------------------


def test_iso_8859_8_i_is_hebrew_in_logical_order() -> None:
    # RFC 1556: "-i" only says the text is in logical order; the bytes are ISO-8859-8.
    document, _ = parse(
        headers_message(b"From: a@example.org", b"Subject: =?iso-8859-8-i?B?+ezl7SDy5ezt?=")
    )
    assert document["subject"] == "שלום עולם"
    assert document["defects"] == []
    assert decode_text("שלום".encode("iso-8859-8"), "ISO-8859-8-I") == ("שלום", None)


def test_iso_2022_jp_with_nec_extensions_is_read_as_windows_writes_it() -> None:
    # JIS X 0208 pairs: 0x2D62 "№" and 0x2D21 "①" are NEC row 13 (cp932), which the
    # standard repertoire lacks; 0x2422 "あ" and 0x3441 "漢" are standard.
    text = b"\x1b$B\x2d\x62\x2d\x21\x24\x22\x34\x41\x1b(B 7"
    document, _ = parse(
        headers_message(
            b"From: a@example.org", b"Subject: =?iso-2022-jp?B?" + base64.b64encode(text) + b"?="
        )
    )
    assert document["subject"] == "№①あ漢 7"
    assert document["defects"] == []
    assert decode_text(text, "iso-2022-jp") == ("№①あ漢 7", None)  # bodies read it alike


def test_iso_2022_jp_keeps_the_standard_reading_of_standard_characters() -> None:
    # 0x2141 is WAVE DASH in JIS X 0208; cp932 maps the same pair to FULLWIDTH TILDE.
    assert decode_text(b"\x1b$B\x21\x41\x2d\x62\x1b(B", "iso-2022-jp") == ("\u301c№", None)


def test_an_unknown_charset_label_falls_back_with_a_defect() -> None:
    raw = headers_message(
        b"From: =?x-inlet-unknown?Q?Ren=C3=A9?= <rene@example.org>",
        b"Subject: =?x-inlet-unknown?Q?caf=E9?=",
    )
    document, _ = parse(raw)
    assert document["subject"] == "café"  # not UTF-8: read as cp1252
    assert document["from"] == [{"name": "René", "address": "rene@example.org"}]
    assert document["defects"] == [
        "header From: encoded word: unknown charset 'x-inlet-unknown', read as utf-8",
        "header Subject: encoded word: unknown charset 'x-inlet-unknown', read as utf-8 and cp1252",
    ]


def test_a_latin1_label_is_read_as_its_superset_in_headers_as_in_bodies() -> None:
    document, _ = parse(headers_message(b"From: a@example.org", b"Subject: =?iso-8859-1?Q?=80_5?="))
    assert document["subject"] == "€ 5"


# 4. Multipart subtypes not recognised -------------------------------------------------------


@pytest.mark.parametrize("subtype", [b"*", b"x{odd}"])
def test_a_multipart_with_an_invalid_subtype_is_walked_as_mixed(subtype: bytes) -> None:
    content_type = b"multipart/" + subtype + b'; boundary="b"'
    raw = mixed(TEXT_PART, png_part(b'attachment; filename="ball.png"'), content_type=content_type)
    document, recorder = parse(raw)
    assert document["text"] == "the text"
    assert [a["filename"] for a in document["attachments"]] == ["ball.png"]
    assert document["attachments"][0]["content_type"] == "image/png"
    assert saved(recorder, document) == [PNG]
    assert document["defects"] == [
        "message: multipart subtype not recognised, walked as multipart/mixed"
    ]


def test_a_nested_multipart_wildcard_is_walked_too() -> None:
    inner = (
        crlf(b'Content-Type: multipart/*; boundary="c"', b"", b"--c")
        + TEXT_PART
        + crlf(b"--c", *png_part(b"inline").split(b"\r\n")[:-1], b"--c--")
    )
    document, recorder = parse(mixed(inner))
    assert document["text"] == "the text"
    assert saved(recorder, document) == [PNG]
    assert document["defects"] == [
        "part 1: multipart subtype not recognised, walked as multipart/mixed"
    ]


# 5. base64 one character too long ---------------------------------------------------------


def test_base64_with_a_stray_last_character_decodes_what_decodes() -> None:
    encoded = base64.encodebytes(PNG)  # 76-character lines
    cut = encoded[: encoded.rindex(b"\n", 0, len(encoded) - 1) + 1]  # whole lines only
    quanta = len(cut.replace(b"\n", b"")) // 4
    stray = cut + encoded[len(cut) : len(cut) + 1] + b"\n"  # one character of the next line
    part = crlf(
        b"Content-Type: image/png", b"Content-Transfer-Encoding: base64", b""
    ) + stray.replace(b"\n", b"\r\n")
    document, recorder = parse(mixed(TEXT_PART, part))
    assert saved(recorder, document) == [PNG[: quanta * 3]]
    assert document["defects"] == [
        "part 2: InvalidBase64LengthDefect",
        "part 2: truncated base64, the stray last character dropped",
    ]


def test_an_encoded_word_with_a_stray_last_character_decodes_what_decodes() -> None:
    # "Q2Fmw6k=" is "Café"; "Q2Fmw" has 5 characters: "Caf" and one sextet of nothing.
    document, _ = parse(headers_message(b"From: a@example.org", b"Subject: =?utf-8?B?Q2Fmw?="))
    assert document["subject"] == "Caf"
    assert document["defects"] == [
        "header Subject: encoded word: truncated base64, the stray last character dropped"
    ]


# 6. Filenames with a directory path ---------------------------------------------------------


@pytest.mark.parametrize(
    ("disposition", "filename", "sent"),
    [
        (b'attachment; filename="../../etc/passwd"', "passwd", "../../etc/passwd"),
        (b"attachment; filename*=UTF-8''reports%2F2024%2Fq1.png", "q1.png", "reports/2024/q1.png"),
        (
            b'attachment; filename="\\\\\\\\server\\\\share\\\\x.png"',
            "x.png",
            "\\\\server\\share\\x.png",
        ),
        # Backslashes the sender did not escape (Netscape 4): a Windows path, not quoted-pairs.
        (b'inline; filename="C:\\TEMP\\nsmail.png"', "nsmail.png", "C:\\TEMP\\nsmail.png"),
    ],
)
def test_a_filename_with_a_directory_path_keeps_its_last_component_and_a_defect(
    disposition: bytes, filename: str, sent: str
) -> None:
    document, recorder = parse(mixed(TEXT_PART, png_part(disposition)))
    assert [a["filename"] for a in document["attachments"]] == [filename]
    assert saved(recorder, document) == [PNG]
    assert document["defects"] == [
        f"part 2: filename {sent!r} has a directory path, only its last component kept"
    ]


def test_a_quoted_pair_in_a_filename_is_no_path() -> None:
    document, _ = parse(mixed(TEXT_PART, png_part(b'attachment; filename="say \\"hi\\".png"')))
    assert [a["filename"] for a in document["attachments"]] == ["say__hi_.png"]
    assert document["defects"] == []


# 7. uuencoded files in a text body ----------------------------------------------------------

RAMP = bytes(range(256)) * 3


def uu_block(name: bytes, data: bytes, mode: bytes = b"644") -> list[bytes]:
    lines = [b"begin " + mode + b" " + name]
    lines += [
        binascii.b2a_uu(data[at : at + 45], backtick=True).rstrip(b"\n")
        for at in range(0, len(data), 45)
    ]
    return [*lines, b"`", b"end"]


def plain_message(*body: bytes) -> bytes:
    return crlf(
        b"From: a@example.org",
        b"Date: Fri, 01 Mar 2024 12:00:00 +0000",
        b"Subject: files",
        b"",
        *body,
    )


def test_uuencoded_files_in_a_plain_body_become_attachments() -> None:
    raw = plain_message(
        b"Two files:",
        b"",
        *uu_block(b"ramp.bin", RAMP),
        b"and",
        *uu_block(b"ball.png", PNG, mode=b"0600"),
        b"bye",
    )
    document, recorder = parse(raw)
    assert document["text"] == "Two files:\n\nand\nbye\n"
    assert saved(recorder, document) == [RAMP, PNG]
    entries = [
        (a["filename"], a["content_type"], a["disposition"], a["content_id"])
        for a in document["attachments"]
    ]
    assert entries == [
        ("ramp.bin", "application/octet-stream", "attachment", None),
        ("ball.png", "image/png", "attachment", None),
    ]
    assert document["defects"] == []


def test_uuencoded_files_in_a_text_plain_part_come_in_walk_order() -> None:
    text = crlf(
        b"Content-Type: text/plain", b"", b"see below", *uu_block(b"notes.txt", b"hello\r\n")
    )
    raw = mixed(text, png_part(b'attachment; filename="after.png"'))
    document, recorder = parse(raw)
    assert document["text"] == "see below"  # the line break before the boundary is its own
    assert [a["filename"] for a in document["attachments"]] == ["notes.txt", "after.png"]
    assert [a["content_type"] for a in document["attachments"]] == ["text/plain", "image/png"]
    assert saved(recorder, document) == [b"hello\r\n", PNG]


def test_a_uuencoded_name_is_sanitised_and_a_path_noted() -> None:
    document, recorder = parse(plain_message(*uu_block(b"/tmp/../x y.txt", b"data")))
    assert [a["filename"] for a in document["attachments"]] == ["x_y.txt"]
    assert saved(recorder, document) == [b"data"]
    assert document["defects"] == [
        "message: filename '/tmp/../x y.txt' has a directory path, only its last component kept"
    ]


@pytest.mark.parametrize(
    ("lines", "reason"),
    [
        # The message ends inside the block.
        (uu_block(b"cut.bin", RAMP)[:-2], "no end line"),
        # The zero-length line, then text instead of "end".
        ([*uu_block(b"cut.bin", RAMP)[:-1], b"after"], "no end line after the last data line"),
        # A data line three characters short of the 45 bytes its "M" announces.
        (
            [*uu_block(b"cut.bin", RAMP)[:2], uu_block(b"cut.bin", RAMP)[2][:-3], b"`", b"end"],
            "a line of 57 characters for 45 bytes",
        ),
        # Lower-case letters are beyond "`", the last character uuencoding uses.
        ([b"begin 644 cut.bin", b"M" + b"a" * 60, b"`", b"end"], "a character outside uuencoding"),
    ],
)
def test_a_malformed_uuencoded_block_stays_in_the_text(lines: list[bytes], reason: str) -> None:
    document, recorder = parse(plain_message(b"before", *lines))
    assert document["text"] == b"\n".join([b"before", *lines, b""]).decode()
    assert recorder.calls == []
    assert document["defects"] == [
        f"message: uuencoded block 'cut.bin' malformed ({reason}), kept in the text"
    ]


def test_a_malformed_block_does_not_hide_a_good_one_after_it() -> None:
    raw = plain_message(b"begin 644 broken.bin", *uu_block(b"good.bin", RAMP))
    document, recorder = parse(raw)
    assert saved(recorder, document) == [RAMP]
    assert document["text"] == "begin 644 broken.bin\n"
    assert document["defects"] == [
        # "b" announces 2 bytes: the next begin line is no data line of this block.
        "message: uuencoded block 'broken.bin' malformed (a line of 17 characters for 2 bytes),"
        " kept in the text"
    ]


def test_malformed_blocks_past_ten_are_counted_in_one_defect() -> None:
    lines = [b"begin 644 x%d.bin" % number for number in range(12)]
    document, recorder = parse(plain_message(*lines))
    assert document["text"] == b"\n".join([*lines, b""]).decode()
    assert recorder.calls == []
    assert len(document["defects"]) == 11
    assert document["defects"][-1] == "message: 2 more malformed uuencoded blocks kept in the text"
