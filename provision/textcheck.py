"""Two small helpers for messages about bad values (configuration keys, command-line
arguments): the value shown briefly, and its first invisible character."""

from __future__ import annotations

import unicodedata

#: Control, format (zero-width, bidi), surrogate, private-use, unassigned, and line or
#: paragraph separator characters: never part of a valid one-line value.
INVISIBLE = ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")


def shown(value: str) -> str:
    """The value quoted, cut to 60 characters."""
    return repr(value if len(value) <= 60 else value[:57] + "...")


def first_invisible(value: str) -> str | None:
    """The first invisible character of `value` as U+XXXX, or None."""
    for ch in value:
        if unicodedata.category(ch) in INVISIBLE:
            return f"U+{ord(ch):04X}"
    return None


def visible(value: str) -> str:
    """`value` with each invisible character (INVISIBLE) written as an escape (\\x1b,
    \\u202e): safe to print on a terminal, and the reader sees what is there."""
    if value.isprintable():  # fast path (C): no character of INVISIBLE is printable
        return value
    if not any(unicodedata.category(ch) in INVISIBLE for ch in value):
        return value
    return "".join(ch.encode("unicode_escape").decode("ascii") if unicodedata.category(ch) in INVISIBLE else ch
                   for ch in value)


#: What a spreadsheet reads as the start of a formula (OWASP "CSV injection").
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: object) -> str:
    """A CSV cell a spreadsheet shows as text: a text starting with = + - @ TAB or CR gets a
    leading apostrophe (numbers are left alone); None is empty."""
    if value is None:
        return ""
    if isinstance(value, (int, float)):
        return str(value)
    text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text
