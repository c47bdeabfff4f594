"""ISO-2022-JP as Windows mailers write it (Microsoft's CP50221): the cp932 repertoire.

Outlook and most Japanese Windows mail encode text labelled "iso-2022-jp" from cp932, so the
JIS X 0208 escape carries cp932's extensions too: NEC row 13 ("№", "①", "㈱") and the
NEC-selected IBM rows 89-92. Python's iso2022_jp codecs know none of these (the label's
standard repertoire only), so one such character fails the whole text. JIS X 0208 and cp932
(Shift_JIS) are the same code points in two byte layouts, so a pair the standard lacks is
moved to its Shift_JIS form and read with cp932, from an error handler: the codec keeps its
state (and its speed) across it. A pair the standard has keeps the standard's reading (cp932
maps a few of them elsewhere: the wave dash U+301C to U+FF5E). iso2022_jp_ext is the base
because it also reads CP50221's half-width katakana (ESC ( I).
"""

import codecs

_ERRORS = "inlet-iso2022jp-cp932-pairs"


def _shift_jis(first: int, second: int) -> bytes:
    """The Shift_JIS bytes of the JIS X 0208 pair (first, second), both in 0x21-0x7E."""
    lead = (first + 1) // 2 + (0x70 if first <= 0x5E else 0xB0)
    # Odd rows take the first half of the trail range (skipping 0x7F), even rows the second.
    trail = second + (0x1F + (second >= 0x60) if first % 2 else 0x7E)
    return bytes((lead, trail))


def _cp932_pair(exc: UnicodeError) -> tuple[str, int]:
    # The codec reports a two-byte pair it has no character for; anything else stays an error.
    if isinstance(exc, UnicodeDecodeError) and exc.end - exc.start == 2:
        first, second = exc.object[exc.start : exc.end]
        if 0x21 <= first <= 0x7E and 0x21 <= second <= 0x7E:
            try:
                return _shift_jis(first, second).decode("cp932"), exc.end
            except UnicodeDecodeError:
                pass
    raise exc


codecs.register_error(_ERRORS, _cp932_pair)


def decode_iso2022jp_ms(data: bytes) -> str:
    """`data` read as CP50221; UnicodeDecodeError where it is not (strict otherwise)."""
    return data.decode("iso2022_jp_ext", _ERRORS)
