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
