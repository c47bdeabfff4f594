"""Messages in the shapes real mail takes, including the broken ones, as raw bytes.

Each is written out by hand (CRLF unless the shape is about line endings) so a reader sees
exactly what the parser is given. The assertions on each live in tests/unit/test_parse_corpus.py.
"""

import base64

# Attachment contents: real magic numbers and every byte value, so a lossy decode shows.
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n" + bytes(range(256)) * 8 + b"\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(255, -1, -1)) * 3
GIF = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00,"


def crlf(*lines: bytes) -> bytes:
    """Lines joined by CRLF, with a final CRLF."""
    return b"".join(line + b"\r\n" for line in lines)


def b64_lines(data: bytes) -> bytes:
    """base64 in 76-character lines, CRLF-terminated, as mailers write it."""
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


SIMPLE_TEXT = crlf(
    b"Received: from mx.example.org (mx.example.org [192.0.2.1])",
    b"\tby relay.example.com with ESMTPS id 01ABC; Fri, 01 Mar 2024 12:00:01 +0000",
    b"From: Alice Example <alice@example.org>",
    b"To: Bob <bob@example.com>",
    b"Subject: Lunch on Friday?",
    b"Date: Fri, 01 Mar 2024 13:00:00 +0100",
    b"Message-ID: <20240301120000.1234@example.org>",
    b"MIME-Version: 1.0",
    b"Content-Type: text/plain; charset=us-ascii",
    b"Content-Transfer-Encoding: 7bit",
    b"",
    b"Hi Bob,",
    b"",
    b"Lunch on Friday at noon?",
    b"",
    b"-- ",
    b"Alice",
)

ALTERNATIVE = crlf(
    b"From: Shop <news@shop.example>",
    b"To: customer@example.com",
    b"Subject: Spring sale",
    b"Date: Sat, 02 Mar 2024 08:30:00 -0500",
    b"Message-ID: <sale-2024@shop.example>",
    b"In-Reply-To: <q1@example.com> (your question)",
    b"References: <q0@example.com>",
    b"  <q1@example.com>",
    b"Reply-To: Support <support@shop.example>, sales@shop.example",
    b"MIME-Version: 1.0",
    b'Content-Type: multipart/alternative; boundary="alt-1"',
    b"",
    b"This is a multi-part message in MIME format.",
    b"--alt-1",
    b"Content-Type: text/plain; charset=utf-8",
    b"Content-Transfer-Encoding: 8bit",
    b"",
    b"Everything 20% off \xe2\x80\x94 this weekend only.",
    b"--alt-1",
    b"Content-Type: text/html; charset=utf-8",
    b"Content-Transfer-Encoding: quoted-printable",
    b"",
    b"<p>Everything 20% off =E2=80=94 this weekend only.</p>",
    b"--alt-1--",
    b"",
)

# mixed( alternative( plain, related( html, inline png ) ), pdf, text attachment )
NESTED_MIXED = (
    crlf(
        b"From: Carol <carol@example.net>",
        b"To: team@example.com",
        b"Cc: Dave <dave@example.com>",
        b"Bcc: audit@example.com",
        b"Sender: Secretary <sec@example.net>",
        b"Subject: Q1 report",
        b"Date: Mon, 04 Mar 2024 09:15:00 +0000",
        b"Message-ID: <q1-report@example.net>",
        b"MIME-Version: 1.0",
        b'Content-Type: multipart/mixed; boundary="outer"',
        b"",
        b"--outer",
        b'Content-Type: multipart/alternative; boundary="inner"',
        b"",
        b"--inner",
        b"Content-Type: text/plain; charset=utf-8",
        b"",
        b"The report is attached.",
        b"--inner",
        b'Content-Type: multipart/related; boundary="rel"; type="text/html"',
        b"",
        b"--rel",
        b"Content-Type: text/html; charset=utf-8",
        b"",
        b'<p>The report is attached.<img src="cid:chart@example.net"></p>',
        b"--rel",
        b"Content-Type: image/png",
        b"Content-Transfer-Encoding: base64",
        b"Content-ID: <chart@example.net>",
        b'Content-Disposition: inline; filename="chart.png"',
        b"",
    )
    + b64_lines(PNG)
    + crlf(
        b"--rel--",
        b"",
        b"--inner--",
        b"",
        b"--outer",
        b'Content-Type: application/pdf; name="report.pdf"',
        b'Content-Disposition: attachment; filename="report.pdf"',
        b"Content-Transfer-Encoding: base64",
        b"",
    )
    + b64_lines(PDF)
    + crlf(
        b"--outer",
        b"Content-Type: text/csv; charset=utf-8",
        b'Content-Disposition: attachment; filename="figures.csv"',
        b"",
        b"quarter,revenue",
        b"Q1,100",
        b"--outer--",
    )
)

INNER_MESSAGE = (
    crlf(
        b"From: Erin <erin@example.org>",
        b"To: frank@example.net",
        b"Subject: =?utf-8?q?Original_r=C3=A9sum=C3=A9?=",
        b"Date: Tue, 27 Feb 2024 10:00:00 +0000",
        b"Message-ID: <original@example.org>",
        b"MIME-Version: 1.0",
        b'Content-Type: multipart/mixed; boundary="inside"',
        b"",
        b"--inside",
        b"Content-Type: text/plain; charset=utf-8",
        b"",
        b"Inner body text.",
        b"--inside",
        b'Content-Type: image/gif; name="pixel.gif"',
        b"Content-Transfer-Encoding: base64",
        b"",
    )
    + b64_lines(GIF)
    + b"--inside--\r\n"
)

RFC822_ATTACHED = (
    crlf(
        b"From: Frank <frank@example.net>",
        b"To: grace@example.com",
        b"Subject: Fwd: Original",
        b"Date: Wed, 28 Feb 2024 11:00:00 +0000",
        b"Message-ID: <fwd@example.net>",
        b"MIME-Version: 1.0",
        b'Content-Type: multipart/mixed; boundary="fwd"',
        b"",
        b"--fwd",
        b"Content-Type: text/plain; charset=utf-8",
        b"",
        b"See the forwarded message.",
        b"--fwd",
        b"Content-Type: message/rfc822",
        b"Content-Disposition: attachment",
        b"",
    )
    + INNER_MESSAGE
    + crlf(b"--fwd--")
)

# Encoded words: B and Q, several charsets, adjacent words joined, in the subject and names.
ENCODED_WORDS = crlf(
    b"From: =?utf-8?q?J=C3=B6rg_M=C3=BCller?= <joerg@example.de>",
    b"To: =?iso-8859-1?q?Fran=E7ois?= <francois@example.fr>,",
    b" =?koi8-r?b?6dfBzg==?= <ivan@example.ru>,",
    b' "=?windows-1252?q?Zo=EB_=93Z=94?=" <zoe@example.com>',
    b"Cc: =?iso-2022-jp?b?GyRCOzNFRBsoQg==?= <yamada@example.jp>",
    b"Subject: =?utf-8?b?w4lsw6h2ZXMg4oCUIHLDqXN1bHRhdHM=?=",
    b" =?utf-8?q?_d=C3=A9finitifs?=",
    b"X-Japanese: =?iso-2022-jp?b?GyRCRnxLXDhsGyhC?=",
    b"X-Koi8: =?koi8-r?q?=F0=D2=C9=D7=C5=D4?=",
    b"Date: Thu, 29 Feb 2024 23:59:59 -0800",
    b"Message-ID: <enc@example.de>",
    b"Content-Type: text/plain; charset=utf-8",
    b"",
    b"body",
)

RFC2231_FILENAMES = crlf(
    b"From: a@example.org",
    b"To: b@example.com",
    b"Subject: filenames",
    b"Date: Fri, 01 Mar 2024 12:00:00 +0000",
    b'Content-Type: multipart/mixed; boundary="f"',
    b"",
    b"--f",
    b"Content-Type: text/plain",
    b"",
    b"three files",
    b"--f",
    b"Content-Type: application/octet-stream",
    b"Content-Disposition: attachment; filename*=UTF-8''caf%C3%A9%20menu.pdf",
    b"",
    b"one",
    b"--f",
    b"Content-Type: application/msword",
    b"Content-Disposition: attachment;",
    b" filename*0*=iso-8859-1''r%E9sum%E9;",
    b" filename*1*=%20final;",
    b" filename*2=.doc",
    b"",
    b"two",
    b"--f",
    b'Content-Type: text/plain; name="=?utf-8?b?0J/RgNC40LLQtdGCLnR4dA==?="',
    b"Content-Disposition: attachment",
    b"",
    b"three",
    b"--f--",
)


def _single(content_type: bytes, body: bytes, cte: bytes = b"8bit") -> bytes:
    return (
        crlf(
            b"From: a@example.org",
            b"To: b@example.com",
            b"Subject: charset test",
            b"Date: Fri, 01 Mar 2024 12:00:00 +0000",
            b"Content-Type: " + content_type,
            b"Content-Transfer-Encoding: " + cte,
            b"",
        )
        + body
    )


LATIN1_BODY = _single(
    b"text/plain; charset=iso-8859-1", "Déjà vu, ça coûte 5 €?\r\n".encode("cp1252")
)
SHIFT_JIS_BODY = _single(
    b"text/plain; charset=shift_jis", "日本語のメール本文です。\r\n".encode("shift_jis")
)
SHIFT_JIS_BASE64 = _single(
    b'text/plain; charset="Shift_JIS"',
    b64_lines("こんにちは、世界。\r\n".encode("shift_jis")),
    b"base64",
)
MISLABELLED_UTF8 = _single(b"text/plain; charset=utf-8", "Grüße aus Köln\r\n".encode("latin-1"))
UNKNOWN_CHARSET = _single(b"text/plain; charset=x-foo", "naïve café\r\n".encode())
UNKNOWN_CHARSET_ASCII = _single(b"text/plain; charset=x-foo", b"plain ascii\r\n")

MISSING_HEADERS = crlf(
    b"To: someone@example.com",
    b"Content-Type: text/plain",
    b"",
    b"No From, no Date, no Message-ID, no Subject.",
)

DUPLICATE_HEADERS = crlf(
    b"From: a@example.org",
    b"Subject: first subject",
    b"To: one@example.com, two@example.com",
    b"Subject: second subject",
    b"To: Three <three@example.com>",
    b"Date: Fri, 01 Mar 2024 12:00:00 +0000",
    b"",
    b"body",
)

BOUNDARY_NEVER_APPEARS = crlf(
    b"From: a@example.org",
    b"To: b@example.com",
    b"Subject: where are my parts",
    b"Date: Fri, 01 Mar 2024 12:00:00 +0000",
    b'Content-Type: multipart/mixed; boundary="declared-but-absent"',
    b"",
    b"--some-other-boundary",
    b"Content-Type: text/plain",
    b"",
    b"text that was meant to be a part",
)

MISSING_CLOSING_BOUNDARY = crlf(
    b"From: a@example.org",
    b"To: b@example.com",
    b"Subject: truncated",
    b"Date: Fri, 01 Mar 2024 12:00:00 +0000",
    b'Content-Type: multipart/mixed; boundary="b"',
    b"",
    b"--b",
    b"Content-Type: text/plain",
    b"",
    b"first part",
    b"--b",
    b'Content-Type: application/octet-stream; name="cut.bin"',
    b"Content-Transfer-Encoding: base64",
    b"",
    b"AAECAwQF",
)

# Line 1 holds garbage characters, the last line lacks its padding.
_GOOD = base64.b64encode(b"hello, world! this is fine")
BAD_BASE64 = crlf(
    b"From: a@example.org",
    b"To: b@example.com",
    b"Subject: broken base64",
    b"Date: Fri, 01 Mar 2024 12:00:00 +0000",
    b'Content-Type: multipart/mixed; boundary="b"',
    b"",
    b"--b",
    b"Content-Type: text/plain",
    b"",
    b"see attachments",
    b"--b",
    b'Content-Type: application/octet-stream; name="garbage.bin"',
    b"Content-Transfer-Encoding: base64",
    b"",
    _GOOD[:8] + b"!!**" + _GOOD[8:],
    b"--b",
    b'Content-Type: application/octet-stream; name="padding.bin"',
    b"Content-Transfer-Encoding: base64",
    b"",
    base64.b64encode(b"abcd").rstrip(b"="),
    b"--b--",
)

HEADERS_ONLY = crlf(
    b"From: a@example.org",
    b"To: b@example.com",
    b"Subject: nothing below",
    b"Date: Fri, 01 Mar 2024 12:00:00 +0000",
)
EMPTY = b""

BARE_LF = ALTERNATIVE.replace(b"\r\n", b"\n")

SMTPUTF8 = crlf(
    "From: Jörg Müller <jörg@bücher.example>".encode(),
    "To: 田中 <tanaka@例え.jp>".encode(),
    "Subject: Grüße — 日本".encode(),
    b"Date: Fri, 01 Mar 2024 12:00:00 +0000",
    b"Content-Type: text/plain; charset=utf-8",
    b"Content-Transfer-Encoding: 8bit",
    b"",
    "Ünïcödé body".encode(),
)

QUOTED_PRINTABLE = crlf(
    b"From: a@example.org",
    b"To: b@example.com",
    b"Subject: qp",
    b"Date: Fri, 01 Mar 2024 12:00:00 +0000",
    b"Content-Type: text/plain; charset=iso-8859-1",
    b"Content-Transfer-Encoding: quoted-printable",
    b"",
    b"This line is long enough that the mailer had to wrap it with a soft line=",
    b" break, and it says caf=E9 =3D coffee.",
    b"Second paragraph=",
    b"",
)

INLINE_IMAGE = (
    crlf(
        b"From: a@example.org",
        b"To: b@example.com",
        b"Subject: logo",
        b"Date: Fri, 01 Mar 2024 12:00:00 +0000",
        b'Content-Type: multipart/related; boundary="r"',
        b"",
        b"--r",
        b"Content-Type: text/html; charset=us-ascii",
        b"",
        b'<img src="cid:logo123@example.org">',
        b"--r",
        b"Content-Type: image/png",
        b"Content-ID:  <logo123@example.org> ",
        b"Content-Disposition: inline",
        b"Content-Transfer-Encoding: base64",
        b"",
    )
    + b64_lines(PNG)
    + b"--r--\r\n"
)


def _attachment(filename_param: bytes, body: bytes) -> bytes:
    return crlf(
        b"--m",
        b"Content-Type: application/octet-stream",
        b"Content-Disposition: attachment; " + filename_param,
        b"Content-Transfer-Encoding: base64",
        b"",
        base64.b64encode(body),
    )


MALICIOUS_FILENAMES = (
    crlf(
        b"From: mallory@example.org",
        b"To: victim@example.com",
        b"Subject: totally safe files",
        b"Date: Fri, 01 Mar 2024 12:00:00 +0000",
        b'Content-Type: multipart/mixed; boundary="m"',
        b"",
        b"--m",
        b"Content-Type: text/plain",
        b"",
        b"open these",
    )
    + _attachment(b'filename="../../etc/passwd"', b"0")
    + _attachment(b'filename="C:\\\\evil.exe"', b"1")
    + _attachment(b"filename*=UTF-8''%00.txt", b"2")
    + _attachment(b'filename="' + b"A" * 296 + b'.pdf"', b"3")
    + _attachment(b'filename=".hidden"', b"4")
    + _attachment(b'filename="..."', b"5")
    + _attachment(b"filename*=UTF-8''invoice%E2%80%AEfdp.exe", b"6")
    + b"--m--\r\n"
)

BAD_ADDRESSES = crlf(
    b"From: x@",
    b"To: undisclosed-recipients:;",
    b"Cc: Some Body",
    b"Reply-To: ok@example.com",
    b"Date: not a date at all",
    b"Subject: bad addresses",
    b"",
    b"body",
)

NAIVE_DATE = crlf(
    b"From: a@example.org",
    b"Date: Fri, 01 Mar 2024 12:00:00 -0000",
    b"",
    b"body",
)

# Raw 8-bit header bytes that are not UTF-8 (a legacy mailer writing latin-1).
LATIN1_HEADER = crlf(
    b"From: Ren\xe9 <rene@example.fr>",
    b"Subject: caf\xe9",
    b"Date: Fri, 01 Mar 2024 12:00:00 +0000",
    b"",
    b"body",
)

DELIVERY_STATUS = crlf(
    b"From: MAILER-DAEMON@example.com",
    b"To: a@example.org",
    b"Subject: Undelivered Mail Returned to Sender",
    b"Date: Fri, 01 Mar 2024 12:00:00 +0000",
    b'Content-Type: multipart/report; report-type=delivery-status; boundary="dsn"',
    b"",
    b"--dsn",
    b"Content-Type: text/plain",
    b"",
    b"Your message could not be delivered.",
    b"--dsn",
    b"Content-Type: message/delivery-status",
    b"",
    b"Reporting-MTA: dns; mx.example.com",
    b"",
    b"Final-Recipient: rfc822; gone@example.com",
    b"Action: failed",
    b"Status: 5.1.1",
    b"",
    b"--dsn--",
)

# Values that would put lone surrogates or control characters into the document if taken as
# they are: a UTF-7 encoded word with half a surrogate pair, a "charset" that is an escape
# codec, undecodable bytes in an RFC 2231 filename, and a Content-Type that is no media type.
HOSTILE_VALUES = crlf(
    b"From: =?utf-7?q?+2D0-?= <a@example.org>",
    b"Subject: =?utf-7?q?half+2D0-pair?=",
    b"Date: Fri, 01 Mar 2024 12:00:00 +0000",
    b'Content-Type: multipart/mixed; boundary="h"',
    b"",
    b"--h",
    b"Content-Type: text/plain; charset=unicode_escape",
    b"",
    b"\\ud800 stays as written",
    b"--h",
    b"Content-Type: app\x01/x y",
    b"Content-Disposition: attachment; filename*=x-unknown''%FF%FE.txt",
    b"",
    b"data",
    b"--h--",
)

CORPUS: dict[str, bytes] = {
    "simple_text": SIMPLE_TEXT,
    "alternative": ALTERNATIVE,
    "nested_mixed": NESTED_MIXED,
    "rfc822_attached": RFC822_ATTACHED,
    "encoded_words": ENCODED_WORDS,
    "rfc2231_filenames": RFC2231_FILENAMES,
    "latin1_body": LATIN1_BODY,
    "shift_jis_body": SHIFT_JIS_BODY,
    "shift_jis_base64": SHIFT_JIS_BASE64,
    "mislabelled_utf8": MISLABELLED_UTF8,
    "unknown_charset": UNKNOWN_CHARSET,
    "unknown_charset_ascii": UNKNOWN_CHARSET_ASCII,
    "missing_headers": MISSING_HEADERS,
    "duplicate_headers": DUPLICATE_HEADERS,
    "boundary_never_appears": BOUNDARY_NEVER_APPEARS,
    "missing_closing_boundary": MISSING_CLOSING_BOUNDARY,
    "bad_base64": BAD_BASE64,
    "headers_only": HEADERS_ONLY,
    "empty": EMPTY,
    "bare_lf": BARE_LF,
    "smtputf8": SMTPUTF8,
    "quoted_printable": QUOTED_PRINTABLE,
    "inline_image": INLINE_IMAGE,
    "malicious_filenames": MALICIOUS_FILENAMES,
    "bad_addresses": BAD_ADDRESSES,
    "naive_date": NAIVE_DATE,
    "latin1_header": LATIN1_HEADER,
    "delivery_status": DELIVERY_STATUS,
    "hostile_values": HOSTILE_VALUES,
}
