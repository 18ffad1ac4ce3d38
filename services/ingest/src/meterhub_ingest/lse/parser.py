"""Streaming parser for ERCOT LSE (Lodestar Enhanced) interval data files.

A file is a sequence of records, one ESI ID, channel and operating day each::

    00000001,<ESI ID>,<channel>,<start>,<stop>,<DST flag>,<invalid-record flag>
    00000002,<meter and interval attributes; [7] seconds per interval, [8] unit, [13] zone>
    00000003,<transaction id>
    00000004,<creation timestamp>,<origin>
    00000030,ATTRIBUTE_VALUE_PAIRS,MRE=...,Sender=...,Receiver=...,REP=...   (optional)
    10000000,<value>,<status>,,<value>,<status>,,<value>,<status>,,<value>,<status>,,
    10000001,...

``parse_lse`` reads the lines one record at a time and yields a ``ParsedRecord`` or a
``RejectedRecord`` (with a result code from ``codes.ResultCode``) for each, in file order; a
bad record never stops the file, parsing resumes at the next 00000001 row. Faults that make
the whole file unusable raise ``LseFileError``. Because parsing streams, a file-level fault
found late (F1 past the 50,000th record, F14 at the end) is raised after earlier records were
yielded: the caller must treat the whole file as failed and discard what it collected.

Interval values stay decimal text in canonical form (no sign for zero, no leading zeros, no
trailing fractional zeros: "068.290" -> "68.29"), ready for PostgreSQL's numeric without a
float ever touching them. A blank value is a missing interval: None, status "-", never zero.

Tolerated without complaint: a byte-order mark, CR LF line ends, blank lines, a missing
trailing comma at the end of a row. The DST flag "N" means the data is in standard time all
year, so such a record always has 96 intervals; "Y" (ERCOT's rule) means local prevailing time
with 92, 96 or 100 intervals.

Speed: the framer takes a well-formed record's lines in one islice call, and its detail rows
are checked and split with a few whole-block operations (one join, one split, list slices,
set and dict lookups through caches of the values seen), with no Python loop over values.
Anything unusual falls back to a row-by-row path that finds and words the exact problem; a
test makes sure the two paths agree on every input.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import islice
from typing import Final

from meterhub_common.domain import (
    CENTRAL,
    InvalidIdentifier,
    intervals_in_day,
    validate_duns,
    validate_esiid,
)
from meterhub_ingest.lse.codes import ResultCode

__all__ = [
    "CONSUMPTION",
    "GENERATION",
    "MAX_RECORDS",
    "LseFileError",
    "ParsedRecord",
    "RejectedRecord",
    "normalise_decimal",
    "parse_lse",
]

MAX_RECORDS: Final = 50_000
CONSUMPTION: Final = 4
GENERATION: Final = 1
SECONDS_PER_INTERVAL: Final = 900
UNIT_KWH: Final = "01"

# A record has at most 4 more header rows and 100 detail rows; anything far beyond that is not
# a record, and capping what is kept of it keeps memory flat on a malformed file.
_MAX_BLOCK_LINES: Final = 512
_CACHE_LIMIT: Final = 1 << 16

_CANONICAL_RE: Final = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]*[1-9])?")
_NUMBER_RE: Final = re.compile(r"([+-]?)([0-9]*)(?:\.([0-9]*))?")
_STAMP_RE: Final = re.compile(r"[0-9]{14}")

# What a well-formed block of k detail rows looks like to _details_fast, split at commas.
_ROW_NUMBERS: Final = {
    k: ["10000000"] + [f"\n{10000000 + i}" for i in range(1, k)] for k in range(1, 26)
}
_ALL_ACTUAL: Final = {n: "A" * n for n in range(4, 101, 4)}
# How a complete detail row ends: its last status then the trailing comma(s), or a blank cell.
_ROW_ENDINGS: Final = (",,", "A,", "E,", ",A", ",E")


@dataclass(frozen=True, slots=True)
class ParsedRecord:
    """One well-formed LSE record: one ESI ID, channel and operating day.

    ``line`` (of the 00000001 row) says where the record came from and takes no part in
    equality. ``values`` holds canonical decimal text, None for a missing interval;
    ``statuses`` has one character per interval: "A" actual, "E" estimated, "-" missing.
    ``attributes`` keeps the 00000030 KEY=value pairs in file order.
    """

    line: int = field(compare=False)
    esiid: str
    channel: int
    operating_day: date
    dst_participant: bool
    seconds_per_interval: int
    unit_code: str
    time_zone: str
    transaction_id: str
    created_at: datetime
    origin: str
    attributes: tuple[tuple[str, str], ...]
    values: tuple[str | None, ...]
    statuses: str

    def attribute(self, key: str) -> str | None:
        """Return the value of a 00000030 attribute (key compared case-insensitively)."""
        wanted = key.casefold()
        for name, value in self.attributes:
            if name.casefold() == wanted:
                return value
        return None

    @property
    def key(self) -> tuple[str, int, date]:
        """(ESI ID, channel, operating day): what a version of this record replaces."""
        return (self.esiid, self.channel, self.operating_day)


@dataclass(frozen=True, slots=True)
class RejectedRecord:
    """A record that was not accepted: why (``code``), where, and a sentence for the report.

    ``esiid``, ``channel`` and ``operating_day`` are filled in when the 00000001 row was
    readable far enough to know them.
    """

    line: int
    code: ResultCode
    message: str
    esiid: str | None = None
    channel: int | None = None
    operating_day: date | None = None


class LseFileError(Exception):
    """A fault that fails the whole file; ``code`` is a file-level ResultCode."""

    def __init__(self, code: ResultCode, message: str, line: int | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.line = line


class _Reject(Exception):
    """Internal: the current record fails with this code and message (``line``: of a header)."""

    def __init__(self, code: ResultCode, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.line = line


class _Truncated(Exception):
    """Internal: the file ends inside the current record."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def normalise_decimal(text: str) -> str | None:
    """Return the canonical form of a decimal number written as text, or None if it is not one.

    Accepted: an optional sign, digits, an optional decimal point and digits (at least one digit
    in all). Canonical: no "+", no leading zeros, no trailing fractional zeros, no bare point,
    and zero is "0" whatever its sign.
    """
    if _CANONICAL_RE.fullmatch(text) is not None and text != "-0":
        return text
    match = _NUMBER_RE.fullmatch(text)
    if match is None:
        return None
    sign, whole, fraction = match.group(1), match.group(2), match.group(3) or ""
    if not whole and not fraction:
        return None
    whole = whole.lstrip("0") or "0"
    fraction = fraction.rstrip("0")
    result = f"{whole}.{fraction}" if fraction else whole
    if sign == "-" and result != "0":
        result = "-" + result
    return result


def _split_fields(text: str, expected: int) -> list[str]:
    """Split a header row, tolerating one trailing comma after the last field."""
    fields = text.split(",")
    if len(fields) == expected + 1 and fields[-1] == "":
        fields.pop()
    return fields


# seconds, unit, zone, created_at, origin, attributes, Sender: what the header rows say.
_Headers = tuple[int, str, str, datetime, str, tuple[tuple[str, str], ...], str | None]


def _h1(line_no: int) -> str:
    return f"line {line_no}, record 00000001"


def _last_line(line_no: int, block: list[str]) -> int:
    """Number of the last non-blank line of a record whose 00000001 row is ``line_no``."""
    index = len(block) - 1
    while index >= 0 and not block[index].strip():
        index -= 1
    return line_no + 1 + index


def _stamp(text: str) -> datetime | None:
    """Parse YYYYMMDDHHMMSS, or return None (also for years outside 1900..2999)."""
    # The year bound keeps day arithmetic clear of date.min and date.max.
    if _STAMP_RE.fullmatch(text) is None or not "1900" <= text[:4] <= "2999":
        return None
    try:
        return datetime(
            int(text[0:4]),
            int(text[4:6]),
            int(text[6:8]),
            int(text[8:10]),
            int(text[10:12]),
            int(text[12:14]),
        )
    except ValueError:
        return None


def _header2(text: str, line_no: int) -> tuple[int, str, str]:
    where = f"line {line_no}, record 00000002"
    fields = _split_fields(text, 14)
    if len(fields) != 14:
        raise _Reject(
            ResultCode.BAD_FORMAT,
            f"{where}: has {len(fields)} fields; expected 14 (optional ones keep their commas)",
            line=line_no,
        )
    if fields[7] != "900":
        raise _Reject(
            ResultCode.BAD_FORMAT,
            f"{where}: seconds per interval {fields[7]!r} is not 900; only 15-minute "
            "interval data is accepted",
            line=line_no,
        )
    if fields[8] != UNIT_KWH:
        raise _Reject(
            ResultCode.INVALID_VALUE,
            f"{where}: unit code {fields[8]!r} is not 01 (kWh)",
            line=line_no,
        )
    return SECONDS_PER_INTERVAL, UNIT_KWH, fields[13]


def _header3(text: str, line_no: int) -> str:
    fields = _split_fields(text, 2)
    if len(fields) != 2:
        raise _Reject(
            ResultCode.BAD_FORMAT,
            f"line {line_no}, record 00000003: has {len(fields)} fields; expected 2 "
            "(sort code, transaction id)",
            line=line_no,
        )
    if not fields[1].strip():
        raise _Reject(
            ResultCode.BAD_FORMAT,
            f"line {line_no}, record 00000003: transaction id is blank",
            line=line_no,
        )
    return fields[1]


def _header4(text: str, line_no: int) -> tuple[datetime, str]:
    where = f"line {line_no}, record 00000004"
    fields = _split_fields(text, 3)
    if len(fields) != 3:
        raise _Reject(
            ResultCode.BAD_FORMAT,
            f"{where}: has {len(fields)} fields; expected 3 (sort code, timestamp, origin)",
            line=line_no,
        )
    moment = _stamp(fields[1])
    if moment is None:
        raise _Reject(
            ResultCode.BAD_FORMAT,
            f"{where}: timestamp {fields[1]!r} is not a date and time YYYYMMDDHHMMSS",
            line=line_no,
        )
    return moment.replace(tzinfo=CENTRAL), fields[2]


def _header30(text: str, line_no: int) -> tuple[tuple[tuple[str, str], ...], str | None]:
    where = f"line {line_no}, record 00000030"
    fields = text.split(",")
    if len(fields) < 2 or fields[1] != "ATTRIBUTE_VALUE_PAIRS":
        found = fields[1] if len(fields) > 1 else ""
        raise _Reject(
            ResultCode.BAD_FORMAT,
            f"{where}: second field {found!r} is not ATTRIBUTE_VALUE_PAIRS",
            line=line_no,
        )
    pairs: list[tuple[str, str]] = []
    names: set[str] = set()
    sender: str | None = None
    for item in fields[2:]:
        if not item:
            continue  # optional attributes keep their commas
        name, equals, value = item.partition("=")
        if not equals or not name:
            raise _Reject(
                ResultCode.BAD_FORMAT, f"{where}: {item!r} is not KEY=value", line=line_no
            )
        folded = name.casefold()
        if folded in names:
            raise _Reject(
                ResultCode.BAD_FORMAT, f"{where}: attribute {name!r} is repeated", line=line_no
            )
        names.add(folded)
        if folded == "sender":
            sender = value
        pairs.append((name, value))
    return tuple(pairs), sender


def _read_to_next_header(
    block: list[str], stack: list[str], it: Iterator[str]
) -> tuple[list[str], str | None, int, bool]:
    """Read lines into ``block`` up to the next 00000001 row, keeping at most a capped number.

    Returns the block, the next 00000001 row (None at end of file), how many lines the block
    spans and whether lines had to be dropped.
    """
    total = len(block)
    overflow = False
    while True:
        line = stack.pop() if stack else next(it, None)
        if line is None or line.startswith("00000001"):
            return block, line, total, overflow
        total += 1
        if len(block) < _MAX_BLOCK_LINES:
            block.append(line)
        else:
            overflow = True


class _Parser:
    """State of one parse: settings, per-file caches and the keys already seen."""

    def __init__(self, sender_duns: str, today: date, source: str, max_records: int) -> None:
        self.sender = sender_duns
        self.today = today
        self.source = source
        self.max_records = max_records
        # Caches, bounded by _CACHE_LIMIT: a file repeats the same days, timestamps, attribute
        # rows and (above all) interval values over and over.
        self.values: dict[str, str] = {}  # any spelling -> canonical
        self.canonical: set[str] = set()  # spellings that are canonical already
        self.days: dict[str, tuple[date, int, int]] = {}
        self.headers: dict[tuple[str, str, str | None], _Headers] = {}
        self.seen: set[tuple[str, int, date]] = set()

    # -- framing ------------------------------------------------------------------------------

    def run(self, lines: Iterable[str]) -> Iterator[ParsedRecord | RejectedRecord]:
        source = self.source
        it = iter(lines)
        # Lines read ahead while re-framing a malformed record, to be read again (last first).
        stack: list[str] = []

        first: str | None = None
        line_no = 0
        for raw in it:
            line_no += 1
            text = raw.lstrip("\ufeff") if line_no == 1 else raw
            if text.strip():
                first = text
                break
        if first is None:
            what = "is empty" if line_no == 0 else "holds only blank lines"
            raise LseFileError(ResultCode.EMPTY_FILE, f"{source} {what}")
        if not first.startswith("00000001"):
            raise LseFileError(
                ResultCode.MANDATORY_ELEMENT_MISSING,
                f"{source}, line {line_no}: the first row starts {first[:12].rstrip()!r}, "
                "not with a 00000001 header row, so no record can be read",
                line_no,
            )

        start: str = first
        start_no = line_no
        count = 0
        while True:
            count += 1
            if count > self.max_records:
                raise LseFileError(
                    ResultCode.TOO_MANY_RECORDS,
                    f"{source} holds more than {self.max_records:,} records "
                    f"(record {count:,} starts at line {start_no})",
                    start_no,
                )
            parts = start.rstrip("\r\n").split(",")
            rows = 0  # detail rows of a well-formed record, 0 if the 00000001 row cannot tell
            info = None
            if len(parts) > 5:
                info = self.days.get(parts[3]) or self._day(parts[3])
                if info is not None:
                    flag = parts[5]
                    rows = info[2] if flag == "Y" else 24 if flag == "N" else 0
            header_rows = 0  # 0: the block must be examined row by row
            overflow = False
            nxt: str | None
            if rows and not stack:
                # Fast framing: take the lines a well-formed record would have in one C call.
                block = list(islice(it, 3 + rows))
                header_rows = 3
                if len(block) > 3 and block[3][:9] == "00000030,":
                    header_rows = 4
                    if len(block) == 3 + rows:
                        extra = next(it, None)
                        if extra is not None:
                            block.append(extra)
                nxt = next(it, None)
                block_len = len(block)
                details = ""
                if block_len == header_rows + rows:
                    # Line ends keep rows apart once joined: lines read from a file have them
                    # (but for perhaps the file's last), lines given without get one each.
                    last = block[-1]
                    if last[-1:] == "\n":
                        details = "".join(block[header_rows:])
                    elif block[0][-1:] == "\n":
                        details = "".join(block[header_rows:]) + "\n"
                    else:
                        details = "\n".join(block[header_rows:]) + "\n"
                if not (
                    details
                    and block[0][:9] == "00000002,"
                    and block[1][:9] == "00000003,"
                    and block[2][:9] == "00000004,"
                    and "00000001" not in details
                    and (nxt is None or nxt.startswith("00000001"))
                ):
                    header_rows = 0
                    details = ""
                    if nxt is not None:
                        block.append(nxt)
                    for i, line in enumerate(block):
                        if line.startswith("00000001"):
                            # Read ahead past this record's end: give the rest back.
                            stack.extend(reversed(block[i + 1 :]))
                            nxt = line
                            del block[i:]
                            block_len = i
                            break
                    else:
                        block, nxt, block_len, overflow = _read_to_next_header(block, stack, it)
            else:
                details = ""
                block, nxt, block_len, overflow = _read_to_next_header([], stack, it)
            final = nxt is None
            yield self._record(start_no, parts, info, block, header_rows, details, final, overflow)
            if nxt is None:
                return
            start_no += 1 + block_len
            start = nxt

    def _day(self, start: str) -> tuple[date, int, int] | None:
        """(day, intervals, detail rows) for a valid midnight start YYYYMMDD000000, or None."""
        info = self.days.get(start)
        if info is None:
            moment = _stamp(start)
            if moment is None or start[8:] != "000000":
                return None
            count = intervals_in_day(moment.date())
            info = (moment.date(), count, count // 4)
            if len(self.days) < _CACHE_LIMIT:
                self.days[start] = info
        return info

    # -- one record ---------------------------------------------------------------------------

    def _record(
        self,
        line_no: int,
        parts: list[str],
        info: tuple[date, int, int] | None,
        block: list[str],
        header_rows: int,
        details: str,
        final: bool,
        overflow: bool,
    ) -> ParsedRecord | RejectedRecord:
        """Check one framed record.

        ``parts`` are the fields of its 00000001 row and ``info`` what the framer learnt of its
        start (see _day). ``header_rows`` > 0 means the framer found the usual layout: 00000002,
        00000003, 00000004, maybe 00000030, then the day's detail rows, joined in ``details``.
        """
        esiid: str | None = None
        channel: int | None = None
        day: date | None = None
        try:
            if final and not header_rows and not any(line.strip() for line in block):
                raise _Truncated(line_no, f"line {line_no}: the file ends after a 00000001 row")
            if len(parts) == 8 and parts[7] == "":
                parts.pop()
            if len(parts) != 7:
                raise _Reject(
                    ResultCode.BAD_FORMAT,
                    f"{_h1(line_no)}: has {len(parts)} fields; expected 7 (sort code, ESI ID, "
                    "channel, start, stop, DST flag, invalid-record flag)",
                )
            try:
                esiid = validate_esiid(parts[1])
            except InvalidIdentifier as error:
                raise _Reject(
                    ResultCode.BAD_FORMAT, f"{_h1(line_no)}: ESI ID {parts[1]!r} {error.reason}"
                ) from None
            if parts[2] == "4":
                channel = CONSUMPTION
            elif parts[2] == "1":
                channel = GENERATION
            else:
                raise _Reject(
                    ResultCode.INVALID_VALUE,
                    f"{_h1(line_no)}: channel {parts[2]!r} is not 1 (generation) or 4 "
                    "(consumption)",
                )
            start, stop = parts[3], parts[4]
            if info is None:
                if _stamp(start) is None:
                    raise _Reject(
                        ResultCode.BAD_FORMAT,
                        f"{_h1(line_no)}: start {start!r} is not a date and time YYYYMMDDHHMMSS",
                    )
                raise _Reject(
                    ResultCode.NOT_FULL_DAY,
                    f"{_h1(line_no)}: start {start!r} is not midnight; a record covers one "
                    "whole operating day",
                )
            day = info[0]
            if stop != start[:8] + "235900":
                if _stamp(stop) is None:
                    raise _Reject(
                        ResultCode.BAD_FORMAT,
                        f"{_h1(line_no)}: stop {stop!r} is not a date and time YYYYMMDDHHMMSS",
                    )
                raise _Reject(
                    ResultCode.NOT_FULL_DAY,
                    f"{_h1(line_no)}: stop {stop!r} is not {start[:8]}235900, the end of the "
                    "start day; a record covers one whole operating day",
                )
            flag = parts[5]
            if flag == "Y":
                dst, expected = True, info[1]
            elif flag == "N":
                dst, expected = False, 96
            else:
                raise _Reject(
                    ResultCode.INVALID_VALUE, f"{_h1(line_no)}: DST flag {flag!r} is not Y or N"
                )
            if parts[6] != "N":
                raise _Reject(
                    ResultCode.INVALID_VALUE,
                    f"{_h1(line_no)}: invalid-record flag {parts[6]!r} is not N; only data that "
                    "has been through VEE is accepted",
                )
            if overflow:
                raise _Reject(
                    ResultCode.BAD_FORMAT,
                    f"line {line_no}: the record runs on for more than {_MAX_BLOCK_LINES} lines "
                    "without another 00000001 row",
                )

            if header_rows:
                h2, h3, h4 = block[0], block[1], block[2]
                h30 = block[3] if header_rows == 4 else None
                n2, n3, n4, n30 = line_no + 1, line_no + 2, line_no + 3, line_no + 4
                first_row = header_rows
            else:
                located = self._locate(line_no, block, final)
                (n2, h2), (n3, h3), (n4, h4), (n30, h30), first_row = located

            # The 00000002, 00000004 and 00000030 rows repeat across a file: check each
            # combination once.
            headers = self.headers.get((h2, h4, h30))
            if headers is None:
                headers = self._headers(h2, n2, h4, n4, h30, n30)
            seconds, unit, zone, created_at, origin, attributes, sender = headers
            transaction_id = h3.rstrip("\r\n")[9:]
            if "," in transaction_id or not transaction_id.strip():
                transaction_id = _header3(h3.rstrip("\r\n"), n3)

            parsed = None
            if details:
                parsed = self._details_fast(details, len(block) - header_rows, expected)
            if parsed is None:
                parsed = self._details_slow(
                    block[first_row:], line_no + 1 + first_row, expected, final, line_no, day
                )
            values, statuses = parsed

            if sender is not None and sender != self.sender:
                raise _Reject(
                    ResultCode.SENDER_MISMATCH,
                    f"line {n30}, record 00000030: Sender {sender!r} is not the uploading "
                    f"TDSP {self.sender}",
                )
            if day > self.today:
                raise _Reject(
                    ResultCode.FUTURE_DATED,
                    f"{_h1(line_no)}: operating day {day.isoformat()} is after today "
                    f"({self.today.isoformat()})",
                )
            key = (esiid, channel, day)
            if key in self.seen:
                raise _Reject(
                    ResultCode.DUPLICATE_IN_FILE,
                    f"{_h1(line_no)}: ESI ID {esiid} channel {channel} for {day.isoformat()} "
                    "already appears earlier in this file; the later record is rejected",
                )
            self.seen.add(key)
            return ParsedRecord(
                line_no,
                esiid,
                channel,
                day,
                dst,
                seconds,
                unit,
                zone,
                transaction_id,
                created_at,
                origin,
                attributes,
                values,
                statuses,
            )
        except _Reject as reject:
            if final and reject.line is not None and reject.line == _last_line(line_no, block):
                # A header row that is the file's last line and is wrong: it was cut off.
                raise LseFileError(
                    ResultCode.TRUNCATED,
                    f"{self.source}, line {reject.line}: the file ends inside a header row "
                    f"({reject.message}); the file was cut off",
                    reject.line,
                ) from None
            return RejectedRecord(line_no, reject.code, reject.message, esiid, channel, day)
        except _Truncated as cut:
            raise LseFileError(
                ResultCode.TRUNCATED,
                f"{self.source}, {cut.message}; the file was cut off",
                cut.line,
            ) from None

    def _locate(
        self, line_no: int, block: list[str], final: bool
    ) -> tuple[tuple[int, str], tuple[int, str], tuple[int, str], tuple[int, str | None], int]:
        """Find the header rows of a block that did not frame cleanly, and where rows start.

        Returns (line number, text) of the 00000002, 00000003, 00000004 and 00000030 rows (the
        last one's text None when absent), and the index in ``block`` of the first detail row.
        """
        index = 0
        size = len(block)

        def skip_blank() -> None:
            nonlocal index
            while index < size and not block[index].strip():
                index += 1

        found: list[tuple[int, str]] = []
        for key in ("00000002", "00000003", "00000004"):
            skip_blank()
            if index == size:
                message = f"line {line_no}: the record ends before its {key} row"
                if final:
                    raise _Truncated(line_no + index, message)
                raise _Reject(ResultCode.BAD_FORMAT, message)
            text = block[index]
            found_key = text.split(",", 1)[0].rstrip("\r\n")
            if found_key != key:
                raise _Reject(
                    ResultCode.BAD_FORMAT,
                    f"line {line_no + 1 + index}: expected the {key} row, found a row starting "
                    f"{found_key[:12]!r}; header rows are 00000001, 00000002, 00000003, "
                    "00000004 and an optional 00000030, in this order",
                )
            found.append((line_no + 1 + index, text))
            index += 1
        skip_blank()
        h30: tuple[int, str | None] = (line_no + 1 + index, None)
        if index < size and block[index].split(",", 1)[0].rstrip("\r\n") == "00000030":
            h30 = (line_no + 1 + index, block[index])
            index += 1
        return found[0], found[1], found[2], h30, index

    def _headers(self, h2: str, n2: int, h4: str, n4: int, h30: str | None, n30: int) -> _Headers:
        """Check the 00000002, 00000004 and 00000030 rows and cache what they say."""
        seconds, unit, zone = _header2(h2.rstrip("\r\n"), n2)
        created_at, origin = _header4(h4.rstrip("\r\n"), n4)
        if h30 is None:
            attributes: tuple[tuple[str, str], ...] = ()
            sender = None
        else:
            attributes, sender = _header30(h30.rstrip("\r\n"), n30)
        result = (seconds, unit, zone, created_at, origin, attributes, sender)
        if len(self.headers) < _CACHE_LIMIT:
            self.headers[(h2, h4, h30)] = result
        return result

    # -- detail rows --------------------------------------------------------------------------

    def _details_fast(
        self, text: str, rows: int, expected: int
    ) -> tuple[tuple[str | None, ...], str] | None:
        """Values and statuses of a block of well-formed rows, or None to take the slow path.

        ``text`` is the block's rows joined, each ending in a line end. One split at commas
        does in C what a loop over values would do in Python; a well-formed block then has 13
        fields a row: the row number (after the previous row's line end), four times value,
        status, empty field; and a last field holding the final line end. Proving that takes
        a few whole-list operations: the row numbers are 10000000 onwards exactly every 13
        fields (so every row has four cells), the statuses are one A or E each, the third
        fields are empty, and every value is a number seen before (a set of canonical
        spellings, or a map from other spellings to their canonical form), which also rules out
        blanks. Single characters and the empty string are shared objects in CPython, so
        splitting allocates only the row numbers and the values.
        """
        if "\r" in text:
            text = text.replace("\r\n", "\n")
        fields = text.split(",")
        if fields[0 : 13 * rows : 13] != _ROW_NUMBERS[rows] or fields[-1] != "\n":
            return None
        del fields[0::13]
        cells = fields[1::3]
        statuses = "".join(cells)
        if statuses != _ALL_ACTUAL[expected] and (
            len(statuses) != expected or statuses.strip("AE") or "" in cells
        ):
            return None
        if "".join(fields[2::3]):
            return None
        values = fields[0::3]
        if self.canonical.issuperset(values):
            return tuple(values), statuses
        try:
            return tuple(map(self.values.__getitem__, values)), statuses
        except KeyError:
            pass
        # Spellings not met before (mostly while the caches warm up): look at each one.
        canonical = [self._value(value) for value in values]
        if None in canonical:
            return None  # the slow path words the error
        return tuple(canonical), statuses

    def _value(self, text: str) -> str | None:
        known = self.values.get(text)
        if known is not None:
            return known
        canonical = normalise_decimal(text)
        if canonical is not None and len(self.values) < _CACHE_LIMIT:
            self.values[text] = canonical
            if canonical == text:
                self.canonical.add(text)
        return canonical

    def _details_slow(
        self,
        rows: list[str],
        first_row_no: int,
        expected: int,
        final: bool,
        line_no: int,
        day: date,
    ) -> tuple[tuple[str | None, ...], str]:
        """Read detail rows one by one, naming the first problem found.

        At the end of the file, a last row that does not end the way rows end, or a record that
        stops short of the day's intervals with a partial last row (or no detail rows at all),
        was cut off: that raises _Truncated. A record that stops after complete rows is an
        ordinary short record (03): such a cut cannot be told from a sender's mistake, and the
        records before it are sound.
        """
        values: list[str | None] = []
        statuses: list[str] = []
        number = 10000000
        last = len(rows) - 1
        while last >= 0 and not rows[last].strip():
            last -= 1
        last_cells = 0
        cut_here = False
        for index, raw in enumerate(rows):
            text = raw.rstrip("\r\n")
            if not text.strip():
                continue
            row_no = first_row_no + index
            key, comma, body = text.partition(",")
            fields = body.split(",") if comma else []
            size = len(fields)
            if size % 3 == 1 and fields[-1] == "":
                fields.pop()  # the usual trailing comma
            elif size % 3 == 2:
                fields.append("")  # both trailing commas left out
            last_cells = len(fields) // 3
            cut_here = final and index == last and not text.endswith(_ROW_ENDINGS)
            try:
                self._row(key, fields, size, row_no, number, values, statuses)
            except _Reject:
                if cut_here:
                    raise _Truncated(row_no, f"line {row_no}: the file ends inside a row") from None
                raise
            number += 1
        if len(values) != expected:
            if final and len(values) < expected and (last_cells < 4 or cut_here):
                raise _Truncated(
                    line_no,
                    f"line {line_no}: the file ends after {len(values)} of the record's "
                    f"{expected} intervals",
                )
            raise _Reject(
                ResultCode.NOT_FULL_DAY,
                f"line {line_no}: the record has {len(values)} intervals; operating day "
                f"{day.isoformat()} has {expected}",
            )
        return tuple(values), "".join(statuses)

    def _row(
        self,
        key: str,
        fields: list[str],
        size: int,
        row_no: int,
        number: int,
        values: list[str | None],
        statuses: list[str],
    ) -> None:
        if key.startswith("0000") and len(key) == 8:
            raise _Reject(
                ResultCode.BAD_FORMAT,
                f"line {row_no}: unexpected {key} row among the detail rows; header rows come "
                "first, in the order 00000001, 00000002, 00000003, 00000004, 00000030",
            )
        if key != str(number):
            raise _Reject(
                ResultCode.BAD_FORMAT,
                f"line {row_no}: detail row numbered {key[:12]!r} where {number} was expected; "
                "detail rows are numbered consecutively from 10000000",
            )
        where = f"line {row_no}, record {key}"
        if len(fields) % 3:
            raise _Reject(
                ResultCode.BAD_FORMAT,
                f"{where}: {size} fields after the row number do not form value,status, cells",
            )
        cells = len(fields) // 3
        if cells == 0:
            raise _Reject(ResultCode.BAD_FORMAT, f"{where}: the row has no interval cells")
        if cells > 4:
            raise _Reject(
                ResultCode.BAD_FORMAT, f"{where}: the row has {cells} cells; at most 4 are allowed"
            )
        for cell in range(cells):
            value, status, extra = fields[3 * cell : 3 * cell + 3]
            here = f"{where}, interval {cell + 1}"
            if extra:
                raise _Reject(
                    ResultCode.BAD_FORMAT,
                    f"{here}: unexpected {extra[:20]!r} after the status; that field must be empty",
                )
            if not value:
                if status:
                    raise _Reject(
                        ResultCode.INVALID_VALUE,
                        f"{here}: status {status[:20]!r} given for a blank value; a missing "
                        "interval has a blank value and a blank status",
                    )
                values.append(None)
                statuses.append("-")
                continue
            canonical = self._value(value)
            if canonical is None:
                raise _Reject(
                    ResultCode.INVALID_VALUE, f"{here}: value {value[:40]!r} is not a number"
                )
            if status != "A" and status != "E":
                problem = f"status {status[:20]!r} is not" if status else "has no status,"
                raise _Reject(
                    ResultCode.INVALID_VALUE,
                    f"{here}: value {value[:40]!r} {problem} A (actual) or E (estimated)",
                )
            values.append(canonical)
            statuses.append(status)


def parse_lse(
    lines: Iterable[str],
    *,
    sender_duns: str,
    today: date,
    source: str = "<file>",
    max_records: int = MAX_RECORDS,
) -> Iterator[ParsedRecord | RejectedRecord]:
    """Parse an LSE file lazily, yielding one ParsedRecord or RejectedRecord per record.

    ``lines`` is any iterable of text lines, with or without their line ends (a text file, a
    list, a generator). ``sender_duns`` is the DUNS of the TDSP that uploaded the file (00000030
    Sender must match it, code 11); records for days after ``today`` are rejected (04);
    ``source`` names the file in LseFileError messages. Only the record being read is held in
    memory, plus the (ESI ID, channel, day) keys seen so far (at most ``max_records``) and a few
    bounded caches.

    Raises LseFileError for file-level faults: F13 empty file, F2 the first row is not a
    00000001 header, F1 more than ``max_records`` records (as soon as the next one starts),
    F14 the file ends inside a record. ValueError if ``sender_duns`` is not a DUNS number.
    """
    sender = validate_duns(sender_duns)
    return _Parser(sender, today, source, max_records).run(lines)
