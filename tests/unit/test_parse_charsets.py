"""Body bytes to text: the declared charset when it fits, a fallback that never fails."""

import pytest

from inlet.parsing.charsets import decode_text

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("data", "charset", "text"),
    [
        (b"plain", None, "plain"),
        (b"plain", "us-ascii", "plain"),
        ("café".encode(), "utf-8", "café"),
        ("café".encode(), "UTF8", "café"),
        ("café".encode("latin-1"), "iso-8859-1", "café"),
        # Labelled latin-1, meant as cp1252 (as browsers and mail clients read it).
        (b"\x80 5", "iso-8859-1", "€ 5"),
        ("Привет".encode("koi8-r"), "koi8-r", "Привет"),
        ("こんにちは".encode("iso-2022-jp"), "iso-2022-jp", "こんにちは"),
        ("①".encode("cp932"), "shift_jis", "①"),  # a cp932 extension, labelled shift_jis
        ("你好".encode("gb18030"), "gb2312", "你好"),
        (b'"quoted"', '"utf-8"', '"quoted"'),
    ],
)
def test_declared_charsets_that_fit_are_used_silently(
    data: bytes, charset: str | None, text: str
) -> None:
    assert decode_text(data, charset) == (text, None)


@pytest.mark.parametrize(
    ("data", "charset", "text", "note"),
    [
        ("café".encode(), None, "café", "no charset, read as utf-8"),
        ("café".encode(), "us-ascii", "café", "charset 'us-ascii' does not fit, read as utf-8"),
        ("café".encode(), "x-foo", "café", "unknown charset 'x-foo', read as utf-8"),
        (b"ascii", "x-foo", "ascii", "unknown charset 'x-foo', read as ascii"),
        (b"ascii", "rot13", "ascii", "charset 'rot13' does not fit, read as utf-8"),
        (
            "Grüße".encode("latin-1"),
            "utf-8",
            "Grüße",
            "charset 'utf-8' does not fit, read as utf-8 and cp1252",
        ),
        # UTF-8 text with a latin-1 footer appended (mailing lists): each part read right.
        (
            "naïve ".encode() + "café".encode("latin-1"),
            None,
            "naïve café",
            "no charset, read as utf-8 and cp1252",
        ),
        # A multi-byte charset with a broken byte keeps its reading.
        (
            "日本語".encode("shift_jis") + b"\x81",  # a lead byte and no trail
            "shift_jis",
            "日本語\ufffd",
            "charset 'shift_jis': invalid bytes replaced",
        ),
    ],
)
def test_charsets_that_do_not_fit_fall_back_with_a_note(
    data: bytes, charset: str | None, text: str, note: str
) -> None:
    assert decode_text(data, charset) == (text, note)


def test_every_byte_decodes() -> None:
    data = bytes(range(256)) * 2
    for charset in (None, "utf-8", "us-ascii", "x-foo", "shift_jis", "iso-2022-jp", "utf-16"):
        text, _ = decode_text(data, charset)
        assert isinstance(text, str)
