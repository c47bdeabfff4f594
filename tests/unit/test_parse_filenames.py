"""Attachment filenames: whatever a sender writes, the result is safe in a key and on a disk."""

import pytest

from inlet.parsing.filenames import MAX_FILENAME_BYTES, safe_filename

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        ("report.pdf", "report.pdf"),
        ("Q1 report (final).pdf", "Q1_report__final_.pdf"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\x\\evil.exe", "evil.exe"),
        ("C:evil.exe", "C_evil.exe"),
        ("\x00.txt", "txt"),
        ("a\x07b\x7fc.txt", "abc.txt"),
        (".hidden", "hidden"),
        ("...", ""),
        ("..", ""),
        ("a..b...c", "a.b.c"),
        ("trailing.", "trailing"),
        ("résumé.doc", "résumé.doc"),
        ("Re\u0301sume\u0301.doc", "Résumé.doc"),  # NFC: composed, not letter + accent
        ("Привет мир.txt", "Привет_мир.txt"),
        ("日本語.pdf", "日本語.pdf"),
        ("हिन्दी.txt", "हिन्दी.txt"),  # combining vowel signs are part of the word
        ('a/b\\c:d*e?f"g<h>i|j.txt', "c_d_e_f_g_h_i_j.txt"),
        ("x\u202etxt.exe", "x_txt.exe"),
        ("emoji😀.png", "emoji_.png"),
        ("dash-and_underscore.tar.gz", "dash-and_underscore.tar.gz"),
        ("", ""),
        (None, ""),
    ],
)
def test_safe_filename(raw: str | None, safe: str) -> None:
    assert safe_filename(raw, 3, "application/octet-stream") == (safe or "attachment-3.bin")


def test_long_names_keep_their_extension_within_100_bytes() -> None:
    assert safe_filename("A" * 300 + ".pdf", 0, "application/pdf") == "A" * 96 + ".pdf"
    # Multi-byte characters are never cut in half.
    name = safe_filename("é" * 300 + ".txt", 0, "text/plain")
    assert name == "é" * 48 + ".txt"
    assert len(name.encode()) <= MAX_FILENAME_BYTES
    # An "extension" too long to be one is cut with the rest.
    name = safe_filename("a." + "b" * 300, 0, "text/plain")
    assert name == ("a." + "b" * 300)[:MAX_FILENAME_BYTES]


@pytest.mark.parametrize(
    ("content_type", "name"),
    [
        ("image/png", "attachment-7.png"),
        ("application/pdf", "attachment-7.pdf"),
        ("text/plain", "attachment-7.txt"),
        ("application/x-inlet-unknown", "attachment-7.bin"),
    ],
)
def test_default_names_take_the_extension_of_the_type(content_type: str, name: str) -> None:
    assert safe_filename(None, 7, content_type) == name
