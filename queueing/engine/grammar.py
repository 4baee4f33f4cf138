"""The grammar of each kind of small input, one rule wherever it is typed.

Forms, the API, the command line, YAML files and tags all read numbers and keys through
these functions, so `1_0`, `٣` or `1.0` are refused the same way everywhere (Python's
`int()` would take all three) and a key that one screen accepts is never refused by
another. Each function raises ValueError with a message stating the rule; the caller adds
the path of the field.
"""

from __future__ import annotations

import re

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

# ASCII digits only: `\d` would also match Arabic-Indic, Devanagari, ... digits.
_INTEGER = re.compile(r"[+-]?[0-9]+")
INTEGER_RULE = "write a whole number with the digits 0-9 and an optional sign, e.g. 10 or -1"

MAX_KEY_LENGTH = 200
KEY_RULE = (
    f"a key is 1 to {MAX_KEY_LENGTH} characters, without control characters (newline, tab, "
    "NUL, ...) and without spaces at either end"
)
# C0 and C1 controls, DEL, line and paragraph separators, and lone surrogates.
_KEY_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
# What no text anywhere may hold: PostgreSQL refuses NUL in text and JSON, and a lone
# surrogate cannot be encoded as UTF-8 at all.
_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")


def shown(text: str, limit: int = 40) -> str:
    """`text` quoted for a message, cut to `limit` characters."""
    return repr(text) if len(text) <= limit else repr(text[:limit]) + "…"


def parse_integer(text: str) -> int:
    """A whole number written with ASCII digits and an optional sign, in the 64-bit range."""
    if not isinstance(text, str) or not _INTEGER.fullmatch(text):
        raise ValueError(f"{shown(str(text))} is not a whole number: {INTEGER_RULE}")
    # More than 19 significant digits is always outside the 64-bit range; checking the
    # length first keeps a 5,000-digit number from costing a conversion.
    if len(text.lstrip("+-").lstrip("0")) > 19 or not INT64_MIN <= int(text) <= INT64_MAX:
        raise ValueError(f"{shown(text)} is outside the 64-bit range {INT64_MIN}..{INT64_MAX}")
    return int(text)


def key_problem(key: object) -> str | None:
    """Why `key` is not a valid pool or tag key, or None if it is one."""
    if not isinstance(key, str):
        return f"expected a string, got {type(key).__name__}: {KEY_RULE}"
    if not key:
        return f"the key is empty: {KEY_RULE}"
    if len(key) > MAX_KEY_LENGTH:
        return f"the key is {len(key)} characters long: {KEY_RULE}"
    if _KEY_FORBIDDEN.search(key):
        return f"{shown(key)} contains a control character: {KEY_RULE}"
    if key != key.strip():
        return f"{shown(key)} has spaces at one end: {KEY_RULE}"
    return None


def text_problem(text: str) -> str | None:
    """Why `text` cannot be stored, or None: NUL characters and lone surrogates."""
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    what = "a NUL character" if found.group() == "\x00" else "a lone surrogate (not Unicode)"
    return f"contains {what}, which cannot be stored"
