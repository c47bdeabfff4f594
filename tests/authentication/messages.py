"""The messages the verdict tests sign: plain RFC 5322 text, with CRLF line ends as on the wire."""


def message(
    *,
    from_: str = "Alice <alice@example.org>",
    subject: str = "Invoice 2026-12",
    body: str = "Please find the invoice attached.\r\nRegards,\r\nAlice\r\n",
) -> bytes:
    return (
        f"From: {from_}\r\n"
        "To: bob@example.com\r\n"
        f"Subject: {subject}\r\n"
        "Date: Wed, 02 Dec 2026 10:00:00 +0000\r\n"
        "Message-ID: <invoice-1@example.org>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n"
        "\r\n"
        f"{body}"
    ).encode()
