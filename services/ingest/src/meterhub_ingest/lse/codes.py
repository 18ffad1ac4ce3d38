"""Result codes of an LSE load, as reported in the per-file activity report.

ERCOT answers every LSE file with a load report; Meterhub reuses its codes so that a TDSP reads
our activity report the same way, and adds its own codes after ERCOT's.

File level (the whole file fails, nothing of it is loaded):

====  =======================================================================================
F1    More than 50,000 records (ERCOT).
F2    A mandatory element is missing, so that no record can be framed (ERCOT).
F10   Not a zip archive (after decryption).
F11   Cannot be decrypted.
F12   Encrypted to a key other than the repository's.
F13   Empty file.
F14   Truncated: the file ends inside a header row, before the detail rows, or mid-row.
F15   Signature missing, or not made with the sending TDSP's registered key.
====  =======================================================================================

Record level (each record succeeds or fails on its own):

====  =======================================================================================
00    Loaded (ERCOT).
01    Invalid value: a field is readable but holds a value that is not allowed (ERCOT).
02    Bad format: the record does not follow the LSE layout (ERCOT).
03    Not a full day: the record does not cover exactly one whole operating day (ERCOT).
04    Future-dated: the operating day has not ended yet (ERCOT).
05    A more recent version is already loaded; this one is kept out (ERCOT).
10    The ESI ID is unknown, or not in the sending TDSP's territory.
11    The 00000030 Sender is not the TDSP that uploaded the file.
12    The same ESI ID, channel and operating day appear earlier in the file.
13    Identical to the current version: nothing to do (not an error).
====  =======================================================================================

Where ERCOT's three format codes overlap, Meterhub decides as follows: 01 when the field is in
its place and well formed but its value is not an allowed one (an interval value that is not a
number, a status other than A or E, a channel other than 1 or 4, a DST flag other than Y or N,
an invalid-record flag other than N, a unit other than 01); 02 when the text cannot be read as
the layout (rows missing, out of order or misnumbered, wrong field counts, text where a field
must be empty, a malformed ESI ID, date or timestamp, an interval length other than 900
seconds); 03 when start and stop are not midnight and 23:59:00 of one day, or the number of
intervals is not the operating day's 92, 96 or 100 (also when the file ends after complete
rows but short of the day: such a cut cannot be told from a sender's mistake, so it costs the
record and not the file, unlike F14).

Which stage emits what: the LSE parser emits F1, F2, F13, F14 and 01, 02, 03, 04, 11, 12; the
intake (transport, decryption, unzipping) emits F10, F11, F12, F15; the loader emits 00, 05,
10, 13.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class ResultCode(StrEnum):
    """An LSE load result code; the member's value is the code as printed ("F1", "00", ...).

    ``description`` gives each code's one-sentence meaning, ``file_level`` tells file from
    record codes, ``is_error`` success (00, 13) from failure.
    """

    # File level, ERCOT's.
    TOO_MANY_RECORDS = "F1"
    MANDATORY_ELEMENT_MISSING = "F2"
    # File level, Meterhub's.
    NOT_A_ZIP = "F10"
    CANNOT_DECRYPT = "F11"
    WRONG_KEY = "F12"
    EMPTY_FILE = "F13"
    TRUNCATED = "F14"
    BAD_SIGNATURE = "F15"

    # Record level, ERCOT's.
    LOADED = "00"
    INVALID_VALUE = "01"
    BAD_FORMAT = "02"
    NOT_FULL_DAY = "03"
    FUTURE_DATED = "04"
    NEWER_VERSION_LOADED = "05"
    # Record level, Meterhub's.
    UNKNOWN_ESIID = "10"
    SENDER_MISMATCH = "11"
    DUPLICATE_IN_FILE = "12"
    UNCHANGED = "13"

    @property
    def description(self) -> str:
        """The code's meaning in one sentence, as the activity report prints it."""
        return _DESCRIPTIONS[self]

    @property
    def file_level(self) -> bool:
        """True for codes that fail a whole file (F...), False for record-level codes."""
        return self.value.startswith("F")

    @property
    def is_error(self) -> bool:
        """False for the codes that report success: 00 (loaded) and 13 (already current)."""
        return self not in (ResultCode.LOADED, ResultCode.UNCHANGED)


_DESCRIPTIONS: Final[dict[ResultCode, str]] = {
    ResultCode.TOO_MANY_RECORDS: "The file holds more than 50,000 records.",
    ResultCode.MANDATORY_ELEMENT_MISSING: "A mandatory element is missing: no record can be read.",
    ResultCode.NOT_A_ZIP: "The decrypted file is not a zip archive.",
    ResultCode.CANNOT_DECRYPT: "The file cannot be decrypted.",
    ResultCode.WRONG_KEY: "The file is encrypted to a key other than the repository's.",
    ResultCode.EMPTY_FILE: "The file is empty.",
    ResultCode.TRUNCATED: "The file ends inside a record, so it was cut off.",
    ResultCode.BAD_SIGNATURE: "The file is unsigned or not signed with the TDSP's registered key.",
    ResultCode.LOADED: "The record was loaded.",
    ResultCode.INVALID_VALUE: "A field of the record holds a value that is not allowed.",
    ResultCode.BAD_FORMAT: "The record does not follow the LSE layout.",
    ResultCode.NOT_FULL_DAY: "The record does not cover exactly one whole operating day.",
    ResultCode.FUTURE_DATED: "The record's operating day has not ended yet.",
    ResultCode.NEWER_VERSION_LOADED: "A more recent version of the record is already loaded.",
    ResultCode.UNKNOWN_ESIID: "The ESI ID is unknown or not in the sending TDSP's territory.",
    ResultCode.SENDER_MISMATCH: "The record's Sender is not the TDSP that uploaded the file.",
    ResultCode.DUPLICATE_IN_FILE: "The ESI ID, channel and day appear earlier in the same file.",
    ResultCode.UNCHANGED: "The record is identical to the current version, so nothing changed.",
}
