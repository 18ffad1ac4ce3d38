"""Notice ids ``X-YMMDDYY-NN`` (ERCOT's scheme, e.g. ``M-A121119-01``).

Our reading of the parts, from the design's example and ERCOT's published notices:

- ``X``: the audience segment (see :data:`meterhub_notifier.notices.types.AUDIENCES`);
- ``Y``: which thread of that audience began that day, ``A`` for the first, ``B`` for the
  second and so on, so two threads started the same day never share an id;
- ``MMDDYY``: the date (Central prevailing time) of the thread's first notice;
- ``NN``: the notice's place in its thread, ``01`` for the first and one more for each
  follow-up (update, reminder, resolution, cancellation).
"""

from __future__ import annotations

import re
from datetime import date

from meterhub_common.errors import BadRequest

NOTICE_ID = re.compile(r"^([A-Z])-([A-Z])(\d{2})(\d{2})(\d{2})-(\d{2})$")
MAX_SEQUENCE = 99


def thread_code(audience: str, letter: str, first_date: date) -> str:
    return f"{audience}-{letter}{first_date:%m%d%y}"


def notice_id(code: str, sequence: int) -> str:
    return f"{code}-{sequence:02d}"


def next_letter(used: list[str]) -> str | None:
    """The next thread letter of a day, or None when A..Z are all taken."""
    if not used:
        return "A"
    last = max(used)
    return None if last == "Z" else chr(ord(last) + 1)


def split_notice_id(value: str) -> tuple[str, int]:
    """Return (thread code, sequence) of a notice id, or raise a 400 saying what is wrong."""
    match = NOTICE_ID.match(value.strip().upper())
    if not match:
        raise BadRequest(f"{value!r} is not a notice id like M-A121119-01 (X-YMMDDYY-NN)")
    code = value.strip().upper()[:-3]
    return code, int(match.group(6))
