"""Text for a terminal, from fields a client wrote (HELO, addresses, a decoded Subject)."""

import unicodedata

# Bidirectional overrides and isolates reorder what follows them on screen (CVE-2021-42574).
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def printable(text: str) -> str:
    """`text` with every control character (C0, DEL, C1) and bidi control shown as an escape,
    so that no field can move the cursor, retitle the window or hide what follows."""
    return "".join(
        _escape(ch) if ch in _BIDI or unicodedata.category(ch) == "Cc" else ch for ch in text
    )


def _escape(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
