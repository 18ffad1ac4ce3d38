"""Identifiers every service must validate the same way: ESI IDs and DUNS numbers.

Both are strings, never numbers: real ESI IDs and DUNS numbers can start with zeros, and an
ESI ID of 22 digits does not fit in a 64-bit integer.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = [
    "ESIID_MAX_LENGTH",
    "TDSP_ESIID_PREFIXES",
    "InvalidIdentifier",
    "tdsp_for_esiid",
    "validate_duns",
    "validate_esiid",
]

ESIID_MAX_LENGTH: Final = 64
"""The LSE specification allows up to 64 alphanumeric characters (real ones have 17 or 22)."""

TDSP_ESIID_PREFIXES: Final[dict[str, str]] = {
    "Oncor": "10443720",
    "CenterPoint": "1008901",
    "AEP Central": "10032789",
    "AEP North": "10204049",
    "TNMP": "10400511",
}
"""TDSP name -> the prefix its ESI IDs start with."""

# Longest prefix first, so that a longer prefix always wins over a shorter one it extends.
_PREFIXES_LONGEST_FIRST: Final = sorted(
    ((prefix, name) for name, prefix in TDSP_ESIID_PREFIXES.items()),
    key=lambda item: -len(item[0]),
)

# [0-9] rather than \d: \d also matches non-ASCII digits such as Arabic-Indic ones.
_DUNS_RE: Final = re.compile(r"[0-9]{9}(?:[0-9]{4})?")


class InvalidIdentifier(ValueError):
    """An ESI ID or DUNS number that does not have the required form.

    ``kind`` names the identifier ("ESI ID", "DUNS"), ``value`` is what was given and
    ``reason`` says what is wrong with it; ``str(error)`` combines the three into a sentence.
    """

    def __init__(self, kind: str, value: object, reason: str) -> None:
        self.kind = kind
        self.value = value
        self.reason = reason
        super().__init__(f"invalid {kind} {value!r}: {reason}")


def _as_text(kind: str, value: object) -> str:
    if not isinstance(value, str):
        raise InvalidIdentifier(
            kind, value, f"must be a string, not {type(value).__name__} (leading zeros matter)"
        )
    text = value.strip()
    if not text:
        raise InvalidIdentifier(kind, value, "is empty")
    return text


def validate_esiid(value: str) -> str:
    """Return the ESI ID with surrounding whitespace removed, or raise InvalidIdentifier.

    An ESI ID is 1 to 64 ASCII letters and digits. Nothing else is changed: case and leading
    zeros are significant.
    """
    text = _as_text("ESI ID", value)
    if len(text) > ESIID_MAX_LENGTH:
        raise InvalidIdentifier(
            "ESI ID", value, f"has {len(text)} characters, at most {ESIID_MAX_LENGTH} allowed"
        )
    if not (text.isascii() and text.isalnum()):
        raise InvalidIdentifier("ESI ID", value, "may contain only ASCII letters and digits")
    return text


def validate_duns(value: str) -> str:
    """Return the DUNS number with surrounding whitespace removed, or raise InvalidIdentifier.

    A DUNS number is exactly 9 digits, or 13 digits for DUNS+4 (no separator).
    """
    text = _as_text("DUNS", value)
    if _DUNS_RE.fullmatch(text) is None:
        raise InvalidIdentifier("DUNS", value, "must be 9 digits, or 13 digits for DUNS+4")
    return text


def tdsp_for_esiid(esiid: str) -> str | None:
    """Return the name of the TDSP whose prefix the ESI ID starts with, or None.

    Raises InvalidIdentifier if the ESI ID itself is malformed; None only means that the
    prefix is not one of TDSP_ESIID_PREFIXES (a municipal utility or co-op, or a test id).
    """
    text = validate_esiid(esiid)
    for prefix, name in _PREFIXES_LONGEST_FIRST:
        if text.startswith(prefix):
            return name
    return None
