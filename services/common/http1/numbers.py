"""Numbers and whitespace in header values, parsed the one strict way (RFC 9110 §5.6).

`str.isdigit()` and `int()` accept far more than a protocol number: superscripts (`"²".isdigit()`),
digits of other scripts, `_`, signs, surrounding Unicode whitespace, and any length (a 5,000-digit
`int()` is slow and then overflows whatever it feeds). `str.strip()` removes U+00A0, U+0085 and friends,
but only SP and HTAB are whitespace in HTTP. Every number taken from a header goes through here.
"""

from __future__ import annotations

OWS = " \t"  # the only whitespace HTTP knows: strip with `value.strip(OWS)`, never `value.strip()`
MAX_DIGITS = 18  # every value up to 10**18 - 1 fits a signed 64-bit integer


def parse_decimal(text: str, max_digits: int = MAX_DIGITS) -> int | None:
    """The value of `text` when it is 1 to `max_digits` ASCII digits and nothing else, else None.

    No sign, no whitespace, no `_`: strip OWS first where the grammar allows it.
    """
    if not 0 < len(text) <= max_digits or not text.isascii() or not text.isdigit():
        return None
    return int(text)
