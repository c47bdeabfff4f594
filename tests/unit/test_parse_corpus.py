"""What the parser makes of each message in the corpus: fields, attachments, defects."""

import hashlib
from typing import Any

import pytest

from inlet import keys
from inlet.parsing import PARSER_VERSION
from tests.builders import make_envelope
from tests.corpus import GIF, PDF, PNG, Recorder, parse
from tests.corpus import messages as m

pytestmark = pytest.mark.unit

ID = make_envelope().id


def addresses(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"name": name, "address": address} for name, address in pairs]


def saved(recorder: Recorder, document: dict[str, Any]) -> list[bytes]:
    """The bytes handed over for each attachment, checked against the document's entries."""
    assert [key for key, _, _ in recorder.calls] == [a["key"] for a in document["attachments"]]
    for attachment, (_, data, content_type) in zip(
        document["attachments"], recorder.calls, strict=True
    ):
        assert attachment["size"] == len(data)
        assert attachment["sha256"] == hashlib.sha256(data).hexdigest()
        assert content_type == attachment["content_type"]
        assert attachment["key"] == keys.attachment_key(
            ID, attachment["index"], attachment["filename"]
        )
    return [data for _, data, _ in recorder.calls]


def test_simple_text() -> None:
    document, recorder = parse(m.SIMPLE_TEXT)
    assert document["id"] == ID
    assert document["status"] == "parsed"
    assert document["reason"] is None
    assert document["envelope"] == make_envelope().to_dict()
    assert document["message_id"] == "<20240301120000.1234@example.org>"
    assert document["date"] == "2024-03-01T12:00:00Z"
    assert document["subject"] == "Lunch on Friday?"
    assert document["from"] == addresses(("Alice Example", "alice@example.org"))
    assert document["to"] == addresses(("Bob", "bob@example.com"))
    assert document["sender"] is None
    assert document["cc"] == document["bcc"] == document["reply_to"] == []
    assert document["in_reply_to"] is None
    assert document["references"] == []
    assert document["text"] == "Hi Bob,\n\nLunch on Friday at noon?\n\n-- \nAlice\n"
    assert document["html"] is None
    assert document["attachments"] == []
    assert recorder.calls == []
    assert document["defects"] == []
    assert document["parsed_at"] == "2026-03-04T05:06:08.123Z"
    assert document["parser_version"] == PARSER_VERSION
    # Headers in order, folded ones unfolded; the trace header first.
    assert document["headers"][0] == [
        "Received",
        "from mx.example.org (mx.example.org [192.0.2.1])"
        "\tby relay.example.com with ESMTPS id 01ABC; Fri, 01 Mar 2024 12:00:01 +0000",
    ]
    assert [name for name, _ in document["headers"]] == [
        "Received",
        "From",
        "To",
        "Subject",
        "Date",
        "Message-ID",
        "MIME-Version",
        "Content-Type",
        "Content-Transfer-Encoding",
    ]


def test_multipart_alternative_gives_text_and_html() -> None:
    document, _ = parse(m.ALTERNATIVE)
    assert document["text"] == "Everything 20% off — this weekend only."
    assert document["html"] == "<p>Everything 20% off — this weekend only.</p>"
    assert document["attachments"] == []
    assert document["date"] == "2024-03-02T13:30:00Z"  # -0500 converted to UTC
    assert document["in_reply_to"] == "<q1@example.com>"  # the comment dropped
    assert document["references"] == ["<q0@example.com>", "<q1@example.com>"]
    assert document["reply_to"] == addresses(
        ("Support", "support@shop.example"), ("", "sales@shop.example")
    )
    assert document["defects"] == []


def test_nested_mixed_with_alternative_related_and_attachments() -> None:
    document, recorder = parse(m.NESTED_MIXED)
    assert document["text"] == "The report is attached."
    assert document["html"] == '<p>The report is attached.<img src="cid:chart@example.net"></p>'
    assert document["sender"] == {"name": "Secretary", "address": "sec@example.net"}
    assert document["cc"] == addresses(("Dave", "dave@example.com"))
    assert document["bcc"] == addresses(("", "audit@example.com"))
    # Walk order: the inline image inside the alternative comes before the mixed attachments.
    assert [
        (a["index"], a["filename"], a["content_type"], a["disposition"], a["content_id"])
        for a in document["attachments"]
    ] == [
        (0, "chart.png", "image/png", "inline", "<chart@example.net>"),
        (1, "report.pdf", "application/pdf", "attachment", None),
        (2, "figures.csv", "text/csv", "attachment", None),
    ]
    assert saved(recorder, document) == [PNG, PDF, b"quarter,revenue\r\nQ1,100"]
    assert document["attachments"][1]["key"] == f"attachments/{ID}/1-report.pdf"
    assert document["defects"] == []


def test_attached_message_is_one_attachment_holding_the_message() -> None:
    document, recorder = parse(m.RFC822_ATTACHED)
    assert document["text"] == "See the forwarded message."  # not merged with the inner text
    assert document["html"] is None
    [attachment] = document["attachments"]
    assert attachment["content_type"] == "message/rfc822"
    assert attachment["disposition"] == "attachment"
    assert attachment["filename"] == "Original_résumé.eml"  # from the inner Subject
    [data] = saved(recorder, document)
    # The message as it was sent, its own attachment inside it and not extracted separately.
    # (Strictly, the CRLF after "--inside--" belongs to the outer boundary; the serialiser ends
    # the message with one, as a file of its own should.)
    assert data == m.INNER_MESSAGE
    assert m.b64_lines(GIF) in data
    assert "Inner body" not in document["text"]
    assert document["subject"] == "Fwd: Original"


def test_attached_message_keeps_its_filename_and_its_defects() -> None:
    raw = m.RFC822_ATTACHED.replace(
        b"Content-Disposition: attachment\r\n",
        b'Content-Disposition: attachment; filename="fwd.eml"\r\n',
    ).replace(b"--inside--\r\n", b"")
    document, _ = parse(raw)
    assert document["attachments"][0]["filename"] == "fwd.eml"
    assert document["defects"] == ["part 2 (embedded message): CloseBoundaryNotFoundDefect"]


def test_attached_message_without_subject_is_message_eml() -> None:
    raw = m.RFC822_ATTACHED.replace(b"Subject: =?utf-8?q?Original_r=C3=A9sum=C3=A9?=\r\n", b"")
    document, _ = parse(raw)
    assert document["attachments"][0]["filename"] == "message.eml"


def test_attached_message_in_a_bare_lf_message_keeps_bare_lf() -> None:
    document, recorder = parse(m.RFC822_ATTACHED.replace(b"\r\n", b"\n"))
    [data] = saved(recorder, document)
    assert data == m.INNER_MESSAGE.replace(b"\r\n", b"\n")


def test_encoded_words_in_several_charsets() -> None:
    document, _ = parse(m.ENCODED_WORDS)
    # Adjacent encoded words join without the folding white space between them.
    assert document["subject"] == "Élèves — résultats définitifs"
    assert document["from"] == addresses(("Jörg Müller", "joerg@example.de"))
    assert document["to"] == addresses(
        ("François", "francois@example.fr"),
        ("Иван", "ivan@example.ru"),
        ("Zoë “Z”", "zoe@example.com"),
    )
    assert document["cc"] == addresses(("山田", "yamada@example.jp"))
    headers = dict(document["headers"])
    assert headers["X-Japanese"] == "日本語"
    assert headers["X-Koi8"] == "Привет"
    assert headers["Subject"] == document["subject"]
    assert headers["From"] == "Jörg Müller <joerg@example.de>"
    # An encoded word inside a quoted string is decoded, as mail clients do, and noted.
    assert "header To: InvalidHeaderDefect" in document["defects"]


@pytest.mark.parametrize(
    ("encoded", "decoded"),
    [
        (b"=?UTF-8?B?8J+Ygg==?=", "😂"),
        (b"=?utf-8?Q?na=C3=AFve_caf=C3=A9?=", "naïve café"),
        (b"=?ISO-8859-1?Q?Caf=E9?=", "Café"),
        (b"=?iso-2022-jp?B?GyRCJDMkcyRLJEEkTxsoQg==?=", "こんにちは"),
        (b"=?KOI8-R?B?8NLJ18XU?=", "Привет"),
        (b"=?windows-1252?Q?=80_100?=", "€ 100"),
        (b"plain =?utf-8?q?and?= encoded", "plain and encoded"),
        # An unknown label is read as the bodies read one: UTF-8, else cp1252 (with a defect).
        (b"=?x-unknown?q?ab=E9?=", "ab\u00e9"),
    ],
)
def test_subject_encoded_words(encoded: bytes, decoded: str) -> None:
    document, _ = parse(b"Subject: " + encoded + b"\r\n\r\nbody\r\n")
    assert document["subject"] == decoded


def test_rfc2231_and_rfc2047_filenames() -> None:
    document, recorder = parse(m.RFC2231_FILENAMES)
    assert [a["filename"] for a in document["attachments"]] == [
        "café_menu.pdf",
        "résumé_final.doc",  # filename*0*= continuation in iso-8859-1
        "Привет.txt",  # RFC 2047 in a quoted name= (not standard, common)
    ]
    assert saved(recorder, document) == [b"one", b"two", b"three"]
    assert document["attachments"][2]["content_type"] == "text/plain"
    assert document["text"] == "three files"


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (m.LATIN1_BODY, "Déjà vu, ça coûte 5 €?\n"),  # iso-8859-1 read as its superset cp1252
        (m.SHIFT_JIS_BODY, "日本語のメール本文です。\n"),
        (m.SHIFT_JIS_BASE64, "こんにちは、世界。\n"),
    ],
)
def test_bodies_in_declared_charsets(raw: bytes, text: str) -> None:
    document, _ = parse(raw)
    assert document["text"] == text
    assert document["defects"] == []


def test_utf8_label_on_latin1_bytes_falls_back() -> None:
    document, _ = parse(m.MISLABELLED_UTF8)
    assert document["text"] == "Grüße aus Köln\n"
    assert document["defects"] == [
        "message: charset 'utf-8' does not fit, read as utf-8 and cp1252"
    ]


def test_unknown_charset() -> None:
    document, _ = parse(m.UNKNOWN_CHARSET)
    assert document["text"] == "naïve café\n"
    assert document["defects"] == ["message: unknown charset 'x-foo', read as utf-8"]
    document, _ = parse(m.UNKNOWN_CHARSET_ASCII)
    assert document["text"] == "plain ascii\n"
    assert document["defects"] == ["message: unknown charset 'x-foo', read as ascii"]


def test_missing_headers() -> None:
    document, _ = parse(m.MISSING_HEADERS)
    assert document["from"] == []
    assert document["date"] is None
    assert document["message_id"] is None
    assert document["subject"] is None
    assert document["to"] == addresses(("", "someone@example.com"))
    assert document["text"] == "No From, no Date, no Message-ID, no Subject.\n"
    assert document["defects"] == ["header From: missing", "header Date: missing"]


def test_duplicated_headers_are_kept_and_the_first_subject_wins() -> None:
    document, _ = parse(m.DUPLICATE_HEADERS)
    assert document["subject"] == "first subject"
    assert [value for name, value in document["headers"] if name == "Subject"] == [
        "first subject",
        "second subject",
    ]
    assert [value for name, value in document["headers"] if name == "To"] == [
        "one@example.com, two@example.com",
        "Three <three@example.com>",
    ]
    assert document["to"] == addresses(
        ("", "one@example.com"), ("", "two@example.com"), ("Three", "three@example.com")
    )
    assert "header Subject: 2 instances" in document["defects"]
    assert "header To: 2 instances" in document["defects"]


def test_boundary_that_never_appears_keeps_the_body_as_one_attachment() -> None:
    document, recorder = parse(m.BOUNDARY_NEVER_APPEARS)
    assert document["text"] is None
    assert document["html"] is None
    [attachment] = document["attachments"]
    assert attachment["content_type"] == "multipart/mixed"
    assert attachment["filename"] == "attachment-0.bin"
    [data] = saved(recorder, document)
    assert data.startswith(b"--some-other-boundary\r\n")
    assert data.endswith(b"text that was meant to be a part\r\n")
    assert "message: StartBoundaryNotFoundDefect" in document["defects"]


def test_missing_closing_boundary_keeps_the_parts() -> None:
    document, recorder = parse(m.MISSING_CLOSING_BOUNDARY)
    assert document["text"] == "first part"
    assert document["attachments"][0]["filename"] == "cut.bin"
    assert saved(recorder, document) == [bytes(range(6))]
    assert document["defects"] == ["message: CloseBoundaryNotFoundDefect"]


def test_broken_base64_is_decoded_as_far_as_possible() -> None:
    document, recorder = parse(m.BAD_BASE64)
    assert saved(recorder, document) == [b"hello, world! this is fine", b"abcd"]
    assert document["defects"] == [
        "part 2: InvalidBase64CharactersDefect",
        "part 3: InvalidBase64PaddingDefect",
    ]


def test_base64_one_character_too_long_decodes_without_its_stray_character() -> None:
    raw = m.BAD_BASE64.replace(base64_abcd(), b"QUJDR")  # 5 characters: no decoding fits all
    document, recorder = parse(raw)
    assert saved(recorder, document)[1] == b"ABC"  # "QUJD"; a lone "R" makes no byte
    assert "part 3: InvalidBase64LengthDefect" in document["defects"]
    assert "part 3: truncated base64, the stray last character dropped" in document["defects"]


def base64_abcd() -> bytes:
    return b"YWJjZA"


@pytest.mark.parametrize("raw", [m.HEADERS_ONLY, m.HEADERS_ONLY.removesuffix(b"\r\n")])
def test_headers_only(raw: bytes) -> None:
    document, _ = parse(raw)
    assert document["subject"] == "nothing below"
    assert document["text"] == ""
    assert document["attachments"] == []
    assert document["defects"] == []


def test_empty_message() -> None:
    document, _ = parse(m.EMPTY)
    assert document["status"] == "parsed"
    assert document["headers"] == []
    assert document["subject"] is None
    assert document["from"] == document["to"] == []
    assert document["text"] == ""
    assert document["html"] is None
    assert document["attachments"] == []
    assert document["defects"] == ["header From: missing", "header Date: missing"]


def test_bare_lf_gives_the_same_document_as_crlf() -> None:
    lf, _ = parse(m.BARE_LF)
    crlf, _ = parse(m.ALTERNATIVE)
    assert lf == crlf
    assert lf["text"] == "Everything 20% off — this weekend only."


def test_8bit_utf8_headers() -> None:
    document, _ = parse(m.SMTPUTF8)
    assert document["subject"] == "Grüße — 日本"
    assert document["from"] == addresses(("Jörg Müller", "jörg@bücher.example"))
    assert document["to"] == addresses(("田中", "tanaka@例え.jp"))
    assert dict(document["headers"])["From"] == "Jörg Müller <jörg@bücher.example>"
    assert document["text"] == "Ünïcödé body\n"
    # Legal with SMTPUTF8 (RFC 6531), not in plain RFC 5322: the stdlib notes it.
    assert document["defects"] == ["header From: NonASCIILocalPartDefect"]


def test_8bit_latin1_headers_are_read_as_cp1252() -> None:
    document, _ = parse(m.LATIN1_HEADER)
    assert document["subject"] == "café"
    assert document["from"] == addresses(("René", "rene@example.fr"))
    assert "header Subject: 8-bit bytes not utf-8, read as cp1252" in document["defects"]


def test_quoted_printable_soft_breaks() -> None:
    document, _ = parse(m.QUOTED_PRINTABLE)
    assert document["text"] == (
        "This line is long enough that the mailer had to wrap it with a soft line break,"
        " and it says café = coffee.\nSecond paragraph\n"
    )
    assert document["defects"] == []


def test_inline_image_with_content_id() -> None:
    document, recorder = parse(m.INLINE_IMAGE)
    assert document["html"] == '<img src="cid:logo123@example.org">'
    assert document["text"] is None
    [attachment] = document["attachments"]
    assert attachment == {
        "index": 0,
        "filename": "attachment-0.png",
        "content_type": "image/png",
        "disposition": "inline",
        "content_id": "<logo123@example.org>",
        "size": len(PNG),
        "sha256": hashlib.sha256(PNG).hexdigest(),
        "key": f"attachments/{ID}/0-attachment-0.png",
    }
    assert saved(recorder, document) == [PNG]


def test_malicious_filenames_are_made_safe() -> None:
    document, recorder = parse(m.MALICIOUS_FILENAMES)
    names = [a["filename"] for a in document["attachments"]]
    assert names == [
        "passwd",
        "evil.exe",
        "txt",
        "A" * 96 + ".pdf",
        "hidden",
        "attachment-5.bin",
        "invoice_fdp.exe",  # the right-to-left override that disguised it is gone
    ]
    assert saved(recorder, document) == [b"0", b"1", b"2", b"3", b"4", b"5", b"6"]
    for attachment in document["attachments"]:
        assert attachment["key"].startswith(f"attachments/{ID}/{attachment['index']}-")
        assert attachment["key"].count("/") == 2
        assert ".." not in attachment["key"]
        assert len(attachment["filename"].encode()) <= 100


def test_unreadable_addresses_and_date_are_defects_not_errors() -> None:
    document, _ = parse(m.BAD_ADDRESSES)
    assert document["from"] == []
    assert document["to"] == []  # an empty group
    assert document["cc"] == []  # a phrase, no address
    assert document["reply_to"] == addresses(("", "ok@example.com"))
    assert document["date"] is None
    # Python 3.11's header parser raises IndexError on this From (noted as "unparseable"); 3.13
    # reads it with an InvalidHeaderDefect. Either way it is a defect, never an error.
    assert any(d.startswith("header From: ") for d in document["defects"])
    assert "header Cc: entry without an address" in document["defects"]
    assert "header Date: unparseable" in document["defects"]
    assert not any(d.startswith("header To") for d in document["defects"])


def test_naive_date_is_utc() -> None:
    document, _ = parse(m.NAIVE_DATE)
    assert document["date"] == "2024-03-01T12:00:00Z"


def test_delivery_report_is_an_attachment() -> None:
    document, recorder = parse(m.DELIVERY_STATUS)
    assert document["text"] == "Your message could not be delivered."
    [attachment] = document["attachments"]
    assert attachment["content_type"] == "message/delivery-status"
    [data] = saved(recorder, document)
    assert data.startswith(b"Reporting-MTA: dns; mx.example.com\r\n\r\nFinal-Recipient:")
    assert b"Status: 5.1.1" in data


def test_attached_message_with_8bit_text_where_its_parts_should_be() -> None:
    # Its multipart boundary never appears, and the stdlib's serialiser fails on the 8-bit
    # text it holds instead; the bytes come out as they were read.
    inner = (
        b"Subject: inner\r\nContent-Type: multipart/mixed; boundary=nope\r\n\r\n"
        b"caf\xc3\xa9 and \xff\r\n"
    )
    raw = (
        b"From: a@example.org\r\nContent-Type: multipart/mixed; boundary=o\r\n\r\n"
        b"--o\r\nContent-Type: text/plain\r\n\r\nouter\r\n"
        b"--o\r\nContent-Type: message/rfc822\r\n\r\n" + inner + b"--o--\r\n"
    )
    document, recorder = parse(raw)
    [data] = saved(recorder, document)
    assert data == inner
    assert "part 2 (embedded message): StartBoundaryNotFoundDefect" in document["defects"]


@pytest.mark.parametrize(
    ("header", "disposition"),
    [
        (b"Content-Disposition: attachment", "attachment"),
        (b"Content-Disposition: INLINE", "inline"),
        (b"Content-Disposition: form-data", "attachment"),  # RFC 2183: unknown = attachment
        (b"X-No-Disposition: 1", None),
    ],
)
def test_disposition(header: bytes, disposition: str | None) -> None:
    raw = crlf_message(
        b"Content-Type: multipart/mixed; boundary=b",
        b"",
        b"--b",
        b"Content-Type: text/plain",
        b"",
        b"body",
        b"--b",
        b"Content-Type: image/gif",
        header,
        b"",
        b"GIF89a",
        b"--b--",
    )
    document, _ = parse(raw)
    assert document["attachments"][0]["disposition"] == disposition


def test_text_parts_other_than_the_body_are_attachments() -> None:
    raw = crlf_message(
        b"Content-Type: multipart/mixed; boundary=b",
        b"",
        b"--b",
        b"Content-Type: text/plain",
        b"",
        b"the body",
        b"--b",
        b"Content-Type: text/plain",
        b"",
        b"a mailing list footer",
        b"--b",
        b"Content-Type: text/plain",
        b'Content-Disposition: attachment; filename="notes.txt"',
        b"",
        b"notes",
        b"--b--",
    )
    document, recorder = parse(raw)
    assert document["text"] == "the body"
    assert [a["filename"] for a in document["attachments"]] == ["attachment-0.txt", "notes.txt"]
    assert saved(recorder, document) == [b"a mailing list footer", b"notes"]


def test_html_only_message() -> None:
    document, _ = parse(crlf_message(b"Content-Type: text/html; charset=utf-8", b"", b"<b>hi</b>"))
    assert document["text"] is None
    assert document["html"] == "<b>hi</b>\n"
    assert document["attachments"] == []


def test_attachment_only_message() -> None:
    raw = crlf_message(
        b"Content-Type: application/pdf",
        b'Content-Disposition: attachment; filename="scan.pdf"',
        b"Content-Transfer-Encoding: base64",
        b"",
        m.b64_lines(PDF).removesuffix(b"\r\n"),
    )
    document, recorder = parse(raw)
    assert document["text"] is None
    assert saved(recorder, document) == [PDF]
    assert document["attachments"][0]["filename"] == "scan.pdf"


def crlf_message(*lines: bytes) -> bytes:
    return m.crlf(b"From: a@example.org", b"Date: Fri, 01 Mar 2024 12:00:00 +0000", *lines)


def test_hostile_values_are_neutralised() -> None:
    document, recorder = parse(m.HOSTILE_VALUES)
    assert document["subject"] == "half\ufffdpair"
    assert document["from"] == addresses(("\ufffd", "a@example.org"))
    assert document["text"] == "\\ud800 stays as written"  # an escape codec is no charset
    [attachment] = document["attachments"]
    assert attachment["content_type"] == "text/plain"
    assert attachment["filename"] == "__.txt"  # two undecodable bytes
    assert saved(recorder, document) == [b"data"]
    assert "part 2: invalid Content-Type, taken as text/plain" in document["defects"]
