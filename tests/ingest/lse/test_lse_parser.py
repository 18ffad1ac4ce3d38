"""The LSE parser: ERCOT's sample read exactly, DST days, every result code, recovery."""

from __future__ import annotations

import io
import random
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from meterhub_common.domain import CENTRAL
from meterhub_ingest.lse import (
    LseFileError,
    ParsedRecord,
    RejectedRecord,
    ResultCode,
    normalise_decimal,
    parse_lse,
    render_lse,
    synthetic_record,
)

TODAY = date(2026, 11, 23)
SENDER = "666666666"
SHARED_SAMPLE = Path("/work/shared/samples/lse_sample_from_seed_004.csv")

# ERCOT's "Example of complete data record" (seed 004), byte for byte, so the suite does not
# depend on the shared folder; test_embedded_sample_matches_the_shared_file checks the copy.
SAMPLE = """\
00000001,1000000000000000,4,20080510000000,20080510235900,Y,N
00000002,0,0,0,,0,,900,01,1,-1,0.0,0.0,CST
00000003,UNIQUETRANID0123456789
00000004,20080519112825,M
00000030,ATTRIBUTE_VALUE_PAIRS,MRE=666666666,Sender=666666666,Receiver=183529049,REP=111111111
10000000,68.29,A,,69.17,A,,67.99,A,,67.99,A,,
10000001,66.81,E,,66.52,E,,67.11,E,,67.11,E,,
10000002,67.11,A,,66.52,A,,66.81,A,,66.82,A,,
10000003,69.47,A,,107.73,A,,230.76,A,,228.11,A,,
10000004,69.47,A,,107.73,A,,230.76,A,,228.11,A,,
10000005,231.94,A,,228.4,A,,230.17,A,,233.7,A,,
10000006,25.18,A,,21.95,A,,246.36,A,,247.83,A,,
10000007,259.61,A,,283.45,A,,303.16,A,,313.76,A,,
10000008,325.83,A,,336.72,A,,350.26,A,,354.38,A,,
10000009,358.5,A,,30.27,A,,361.74,A,,366.45,A,,
10000010,365.86,A,,369.39,A,,369.69,A,,368.21,A,,
10000011,371.45,A,,39.69,A,,367.63,A,,369.39,A,,
10000012,371.15,A,,369.68,A,,368.51,A,,369.98,A,,
10000013,370.57,A,,373.51,A,,373.22,A,,369.39,A,,
10000014,370.86,A,,369.98,A,,368.81,A,,365.57,A,,
10000015,364.39,A,,34.68,A,,36.8,A,,284.03,A,,
10000016,309.64,A,,308.76,A,,302.88,A,,296.1,A,,
10000017,286.68,A,,279.91,A,,24.29,A,,189.55,A,,
10000018,190.43,A,,161.59,A,,10.68,A,,114.79,A,,
10000019,108.9,A,,107.14,A,,101.55,A,,98.61,A,,
10000020,94.78,A,,4.49,A,,95.66,A,,92.42,A,,
10000021,84.77,A,,80.94,A,,80.94,A,,80.35,A,,
10000022,80.35,A,,80.35,A,,7.29,A,,77.41,A,,
10000023,77.71,A,,76.82,A,,77.41,A,,7.82,A,,
"""


def parse(
    lines: Iterable[str], *, sender_duns: str = SENDER, max_records: int = 50_000
) -> list[ParsedRecord | RejectedRecord]:
    return list(parse_lse(lines, sender_duns=sender_duns, today=TODAY, max_records=max_records))


def record(
    day: date = date(2026, 6, 1),
    esiid: str = "10443720001234567",
    channel: int = 4,
    seed: int = 1,
    **changes: object,
) -> ParsedRecord:
    made = synthetic_record(
        esiid,
        channel,
        day,
        created_at=datetime.combine(day + timedelta(days=1), datetime.min.time(), CENTRAL),
        rng=random.Random(seed),
        estimated_share=0.1,
        sender=SENDER,
        rep="111111111",
    )
    return replace(made, **changes)  # type: ignore[arg-type]


def lines_of(*records: ParsedRecord) -> list[str]:
    return list(render_lse(records))


def only(results: list[ParsedRecord | RejectedRecord]) -> ParsedRecord | RejectedRecord:
    assert len(results) == 1, results
    return results[0]


def rejected(lines: Iterable[str], *, sender_duns: str = SENDER) -> RejectedRecord:
    result = only(parse(lines, sender_duns=sender_duns))
    assert isinstance(result, RejectedRecord), result
    assert result.message
    return result


def file_error(lines: Iterable[str]) -> LseFileError:
    with pytest.raises(LseFileError) as caught:
        parse(lines)
    assert caught.value.code.file_level
    assert caught.value.message
    return caught.value


def edit(lines: list[str], index: int, old: str, new: str) -> list[str]:
    """Replace ``old`` by ``new`` in one line, which must contain it."""
    assert old in lines[index], (old, lines[index])
    changed = list(lines)
    changed[index] = lines[index].replace(old, new, 1)
    return changed


# -- ERCOT's sample -------------------------------------------------------------------------


@pytest.mark.skipif(not SHARED_SAMPLE.exists(), reason="shared samples folder not mounted")
def test_embedded_sample_matches_the_shared_file() -> None:
    assert SHARED_SAMPLE.read_text(encoding="ascii") == SAMPLE


def _check_sample(result: ParsedRecord | RejectedRecord) -> None:
    assert isinstance(result, ParsedRecord), result
    assert result.line == 1
    assert result.esiid == "1000000000000000"
    assert result.channel == 4
    assert result.operating_day == date(2008, 5, 10)
    assert result.dst_participant is True
    assert result.seconds_per_interval == 900
    assert result.unit_code == "01"
    assert result.time_zone == "CST"
    assert result.transaction_id == "UNIQUETRANID0123456789"
    assert result.origin == "M"
    assert result.created_at == datetime(2008, 5, 19, 11, 28, 25, tzinfo=CENTRAL)
    assert result.created_at.isoformat() == "2008-05-19T11:28:25-05:00"
    assert len(result.values) == 96
    assert len(result.statuses) == 96
    assert result.values[0] == "68.29"
    assert result.values[1] == "69.17"
    assert result.values[-1] == "7.82"
    assert result.values[21] == "228.4"
    assert result.statuses[4:8] == "EEEE"  # row 10000001 is estimated
    assert result.statuses.count("E") == 4
    assert result.statuses.replace("E", "") == "A" * 92
    assert dict(result.attributes)["REP"] == "111111111"
    assert result.attribute("rep") == "111111111"
    assert result.attributes == (
        ("MRE", "666666666"),
        ("Sender", "666666666"),
        ("Receiver", "183529049"),
        ("REP", "111111111"),
    )
    assert result.key == ("1000000000000000", 4, date(2008, 5, 10))


def test_sample_is_read_exactly(tmp_path: Path) -> None:
    path = tmp_path / "666666666IntervalData20080519112825001.lse"
    path.write_text(SAMPLE, encoding="ascii")
    with path.open(encoding="ascii") as handle:
        _check_sample(only(parse(handle)))


@pytest.mark.parametrize(
    "variant",
    [
        pytest.param(SAMPLE.splitlines(), id="lines-without-ends"),
        pytest.param(SAMPLE.splitlines(keepends=True), id="lines-with-ends"),
        pytest.param(io.StringIO(SAMPLE), id="text-stream"),
        pytest.param(SAMPLE.replace("\n", "\r\n").splitlines(keepends=True), id="crlf"),
        pytest.param(("\ufeff" + SAMPLE).splitlines(keepends=True), id="byte-order-mark"),
        pytest.param(SAMPLE.rstrip("\n").splitlines(keepends=True), id="no-final-line-end"),
        pytest.param((SAMPLE + "\n\n  \n").splitlines(keepends=True), id="trailing-blanks"),
        pytest.param(("\n\n" + SAMPLE).splitlines(keepends=True), id="leading-blanks"),
        pytest.param(SAMPLE.replace(",,\n", ",\n").splitlines(), id="no-trailing-comma"),
        pytest.param(SAMPLE.replace(",,\n", "\n").splitlines(), id="no-trailing-commas"),
    ],
)
def test_sample_variants_that_mean_the_same(variant: Iterable[str]) -> None:
    result = only(parse(variant))
    _check_sample(replace(result, line=1) if isinstance(result, ParsedRecord) else result)
    assert result == only(parse(SAMPLE.splitlines()))


def test_leading_blank_lines_count_in_line_numbers() -> None:
    result = only(parse(("\n\n" + SAMPLE).splitlines()))
    assert result.line == 3


def test_render_writes_the_sample_back_byte_for_byte() -> None:
    sample = only(parse(SAMPLE.splitlines()))
    assert isinstance(sample, ParsedRecord)
    assert "\n".join(render_lse([sample])) + "\n" == SAMPLE


# -- DST days -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "rows", "intervals"),
    [(date(2026, 3, 8), 23, 92), (date(2026, 11, 1), 25, 100), (date(2026, 6, 1), 24, 96)],
)
def test_dst_days_are_accepted(day: date, rows: int, intervals: int) -> None:
    original = record(day)
    lines = lines_of(original)
    assert [line[:8] for line in lines[5:]] == [str(10000000 + i) for i in range(rows)]
    result = only(parse(lines))
    assert result == original
    assert isinstance(result, ParsedRecord)
    assert len(result.values) == intervals


@pytest.mark.parametrize(
    ("day", "dated", "found", "needed"),
    [
        (date(2026, 6, 1), "20261101", 96, 100),
        (date(2026, 11, 1), "20260601", 100, 96),
        (date(2026, 3, 8), "20260601", 92, 96),
        (date(2026, 6, 1), "20260308", 96, 92),
    ],
)
def test_interval_count_must_match_the_operating_day(
    day: date, dated: str, found: int, needed: int
) -> None:
    ymd = day.strftime("%Y%m%d")
    lines = lines_of(record(day))
    lines[0] = lines[0].replace(ymd, dated)
    result = rejected(lines)
    assert result.code is ResultCode.NOT_FULL_DAY
    assert result.line == 1
    assert f"has {found} intervals" in result.message
    assert f"has {needed}" in result.message
    assert result.operating_day == date(int(dated[:4]), int(dated[4:6]), int(dated[6:]))


def test_dst_flag_n_means_standard_time_and_96_intervals_every_day() -> None:
    day = date(2026, 11, 1)
    lines = lines_of(record(date(2026, 6, 1)))
    lines[0] = lines[0].replace("20260601", "20261101").replace(",Y,N", ",N,N")
    result = only(parse(lines))
    assert isinstance(result, ParsedRecord)
    assert result.dst_participant is False
    assert result.operating_day == day
    assert len(result.values) == 96

    too_many = lines_of(record(day))
    too_many[0] = too_many[0].replace(",Y,N", ",N,N")
    assert rejected(too_many).code is ResultCode.NOT_FULL_DAY


# -- values ---------------------------------------------------------------------------------


def test_blank_value_is_missing_not_zero() -> None:
    lines = edit(SAMPLE.splitlines(), 7, "66.52,A,,", ",,,")  # row 10000002, interval 2
    result = only(parse(lines))
    assert isinstance(result, ParsedRecord)
    assert result.values[9] is None
    assert result.statuses[9] == "-"
    assert result.values[8] == "67.11"
    assert result.statuses[8] == "A"
    assert sum(value is None for value in result.values) == 1


def test_whole_day_missing() -> None:
    lines = [*SAMPLE.splitlines()[:5], *(f"{10000000 + row}," + ",,," * 4 for row in range(24))]
    result = only(parse(lines))
    assert isinstance(result, ParsedRecord)
    assert result.values == (None,) * 96
    assert result.statuses == "-" * 96


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("68.29", "68.29"),
        ("068.290", "68.29"),
        ("+5", "5"),
        ("5.", "5"),
        (".5", "0.5"),
        ("0", "0"),
        ("0.000", "0"),
        ("-0", "0"),
        ("-0.00", "0"),
        ("-1.50", "-1.5"),
        ("007", "7"),
        ("10", "10"),
        ("100.001", "100.001"),
        ("123456789012345678901234567890.123456789", "123456789012345678901234567890.123456789"),
    ],
)
def test_normalise_decimal(text: str, canonical: str) -> None:
    assert normalise_decimal(text) == canonical


@pytest.mark.parametrize(
    "text",
    ["", ".", "-", "+", "+-1", "1.2.3", "1e5", "0x1F", " 1", "1 ", "1,5", "١٢", "NaN", "--1"],
)
def test_normalise_decimal_rejects_what_is_not_a_number(text: str) -> None:
    assert normalise_decimal(text) is None


def test_values_are_normalised_in_records() -> None:
    lines = edit(SAMPLE.splitlines(), 5, "68.29,A,,69.17,A,,67.99", "068.290,A,,+69.17,A,,67.990")
    result = only(parse(lines))
    assert isinstance(result, ParsedRecord)
    assert result.values[:4] == ("68.29", "69.17", "67.99", "67.99")


def test_rows_with_fewer_cells_are_read_in_order() -> None:
    original = record()
    lines = lines_of(original)[:5]
    for index in range(0, 96, 2):
        cells = "".join(
            f"{original.values[i]},{original.statuses[i]},," for i in (index, index + 1)
        )
        lines.append(f"{10000000 + index // 2},{cells}")
    assert only(parse(lines)) == original


# -- one test per result code the parser emits ----------------------------------------------


def test_a_bad_value_is_named_with_its_line_row_and_interval() -> None:
    second = lines_of(record(esiid="10443720000000002"))
    lines = SAMPLE.splitlines() + edit(second, 9, "," + second[9].split(",")[7], ",x1.5")
    results = parse(lines)
    assert isinstance(results[0], ParsedRecord)
    bad = results[1]
    assert isinstance(bad, RejectedRecord)
    assert bad.code is ResultCode.INVALID_VALUE
    assert bad.line == 30
    assert bad.message == "line 39, record 10000004, interval 3: value 'x1.5' is not a number"
    assert (bad.esiid, bad.channel, bad.operating_day) == ("10443720000000002", 4, date(2026, 6, 1))


@pytest.mark.parametrize(
    ("index", "old", "new", "line", "words"),
    [
        (9, "107.73", "x1.5", 10, "line 10, record 10000004, interval 2: value 'x1.5' is not"),
        (9, "230.76,A", "230.76,X", 10, "interval 3: value '230.76' status 'X' is not A"),
        (9, "230.76,A", "230.76,", 10, "interval 3: value '230.76' has no status"),
        (9, "230.76,A", ",A", 10, "interval 3: status 'A' given for a blank value"),
        (9, "230.76,A", "230.76,a", 10, "status 'a' is not A (actual) or E (estimated)"),
        (9, "228.11,A,,", "228.11,5A,,", 10, "interval 4: value '228.11' status '5A' is not A"),
        (0, ",4,", ",7,", 1, "channel '7' is not 1 (generation) or 4 (consumption)"),
        (0, ",Y,N", ",X,N", 1, "DST flag 'X' is not Y or N"),
        (0, ",Y,N", ",Y,Y", 1, "invalid-record flag 'Y' is not N"),
        (1, ",900,01,", ",900,02,", 2, "unit code '02' is not 01 (kWh)"),
    ],
)
def test_invalid_value_01(index: int, old: str, new: str, line: int, words: str) -> None:
    result = rejected(edit(SAMPLE.splitlines(), index, old, new))
    assert result.code is ResultCode.INVALID_VALUE
    assert result.code.value == "01"
    assert result.line == 1
    assert f"line {line}" in result.message
    assert words in result.message
    if index != 0 or "channel" not in words:
        assert result.esiid == "1000000000000000"


@pytest.mark.parametrize(
    ("index", "old", "new", "words"),
    [
        (8, "10000003,", "10000004,", "line 9: detail row numbered '10000004' where 10000003"),
        (8, "10000003,", "1000003,", "numbered '1000003' where 10000003 was expected"),
        (0, "1000000000000000", "1000-0000", "ESI ID '1000-0000' may contain only ASCII letters"),
        (0, "1000000000000000", "9" * 65, "at most 64 allowed"),
        (0, ",Y,N", ",Y,N,X", "has 8 fields; expected 7"),
        (0, "20080510000000", "2008-05-10", "start '2008-05-10' is not a date and time"),
        (0, "20080510000000", "20081332000000", "start '20081332000000' is not a date and time"),
        (0, "20080510235900", "x", "stop 'x' is not a date and time"),
        (0, "20080510000000,20080510235900", "99991231000000,99991231235900", "start '9999"),
        (0, "20080510000000,20080510235900", "18991231000000,18991231235900", "start '1899"),
        (1, ",900,", ",300,", "line 2, record 00000002: seconds per interval '300' is not 900"),
        (1, ",0.0,CST", ",CST", "line 2, record 00000002: has 13 fields; expected 14"),
        (2, "UNIQUETRANID0123456789", "", "line 3, record 00000003: transaction id is blank"),
        (2, "UNIQUETRANID0123456789", "A,B", "line 3, record 00000003: has 3 fields"),
        (3, "20080519112825", "2008051911282", "line 4, record 00000004: timestamp"),
        (3, ",M", ",M,X", "line 4, record 00000004: has 4 fields"),
        (4, "ATTRIBUTE_VALUE_PAIRS", "PAIRS", "is not ATTRIBUTE_VALUE_PAIRS"),
        (4, "REP=111111111", "REP", "line 5, record 00000030: 'REP' is not KEY=value"),
        (4, "REP=111111111", "MRE=1", "attribute 'MRE' is repeated"),
        (9, "228.11,A,,", "228.11,A,,1,A,,", "record 10000004: the row has 5 cells"),
        (9, "228.11,A,,", "228.11,A,1,", "interval 4: unexpected '1' after the status"),
        (9, "228.11,A,,", "228.11,A,,,", "record 10000004: the row has 5 cells"),
        (9, "228.11,A,,", "228.11,A,,7", "record 10000004: 13 fields after the row number do not"),
        (9, "69.47,A,,", "69.47,A,.,", "interval 1: unexpected '.' after the status"),
        (9, "10000004,69.47,A,,107.73,A,,230.76,A,,228.11,A,,", "10000004", "has no interval"),
    ],
)
def test_bad_format_02(index: int, old: str, new: str, words: str) -> None:
    result = rejected(edit(SAMPLE.splitlines(), index, old, new))
    assert result.code is ResultCode.BAD_FORMAT
    assert result.line == 1
    assert words in result.message


@pytest.mark.parametrize(
    ("lines", "words"),
    [
        (SAMPLE.splitlines()[:2] + SAMPLE.splitlines()[3:], "line 3: expected the 00000003 row"),
        (
            [SAMPLE.splitlines()[i] for i in (0, 2, 1, *range(3, 29))],
            "line 2: expected the 00000002 row, found a row starting '00000003'",
        ),
        (
            [*SAMPLE.splitlines()[:10], "00000003,AGAIN", *SAMPLE.splitlines()[10:]],
            "line 11: unexpected 00000003 row among the detail rows",
        ),
        (
            [*SAMPLE.splitlines()[:5], "00000031,X", *SAMPLE.splitlines()[5:]],
            "line 6: unexpected 00000031 row",
        ),
    ],
)
def test_bad_format_02_row_order(lines: list[str], words: str) -> None:
    result = rejected(lines)
    assert result.code is ResultCode.BAD_FORMAT
    assert result.line == 1
    assert words in result.message


def test_bad_format_02_runaway_record_is_rejected_and_parsing_resumes() -> None:
    junk = [f"{20000000 + i},1,A,," for i in range(2000)]
    lines = SAMPLE.splitlines()[:5] + junk + lines_of(record())
    results = parse(lines)
    assert [type(r) for r in results] == [RejectedRecord, ParsedRecord]
    first = results[0]
    assert isinstance(first, RejectedRecord)
    assert first.code is ResultCode.BAD_FORMAT
    assert "more than 512 lines" in first.message
    assert results[1].line == 1 + 4 + 2000 + 1


@pytest.mark.parametrize(
    ("index", "old", "new", "words"),
    [
        (0, "20080510000000", "20080510000100", "start '20080510000100' is not midnight"),
        (0, "20080510235900", "20080511235900", "stop '20080511235900' is not 20080510235900"),
        (0, "20080510235900", "20080510234500", "stop '20080510234500' is not 20080510235900"),
    ],
)
def test_not_a_full_day_03(index: int, old: str, new: str, words: str) -> None:
    result = rejected(edit(SAMPLE.splitlines(), index, old, new))
    assert result.code is ResultCode.NOT_FULL_DAY
    assert result.line == 1
    assert words in result.message


def test_not_a_full_day_03_missing_and_extra_rows() -> None:
    good = lines_of(record(seed=2, esiid="10443720000000002"))
    short = SAMPLE.splitlines()[:-1] + good
    results = parse(short)
    assert [type(r) for r in results] == [RejectedRecord, ParsedRecord]
    first = results[0]
    assert isinstance(first, RejectedRecord)
    assert first.code is ResultCode.NOT_FULL_DAY
    assert "the record has 92 intervals; operating day 2008-05-10 has 96" in first.message
    assert results[1].line == 29

    extra = [*SAMPLE.splitlines(), "10000024,1,A,,2,A,,3,A,,4,A,,"]
    result = rejected(extra)
    assert result.code is ResultCode.NOT_FULL_DAY
    assert "has 100 intervals" in result.message


def test_future_dated_04() -> None:
    result = rejected(lines_of(record(date(2026, 11, 24))))
    assert result.code is ResultCode.FUTURE_DATED
    assert result.line == 1
    assert "operating day 2026-11-24 is after today (2026-11-23)" in result.message
    assert result.operating_day == date(2026, 11, 24)
    assert result.esiid == "10443720001234567"
    assert result.channel == 4
    assert isinstance(only(parse(lines_of(record(TODAY)))), ParsedRecord)


def test_sender_mismatch_11() -> None:
    result = rejected(SAMPLE.splitlines(), sender_duns="007924772")
    assert result.code is ResultCode.SENDER_MISMATCH
    assert result.line == 1
    assert "line 5, record 00000030: Sender '666666666' is not the uploading TDSP 007924772" in (
        result.message
    )


def test_sender_is_not_checked_without_00000030() -> None:
    lines = SAMPLE.splitlines()
    del lines[4]
    result = only(parse(lines, sender_duns="007924772"))
    assert isinstance(result, ParsedRecord)
    assert result.attributes == ()


def test_duplicate_in_file_12() -> None:
    first = record(seed=1)
    again = record(seed=2)
    generation = record(seed=3, channel=1)
    other_day = record(date(2026, 6, 2), seed=4)
    lines = lines_of(first, again, generation, other_day)
    results = parse(lines)
    assert [type(r) for r in results] == [ParsedRecord, RejectedRecord, ParsedRecord, ParsedRecord]
    duplicate = results[1]
    assert isinstance(duplicate, RejectedRecord)
    assert duplicate.code is ResultCode.DUPLICATE_IN_FILE
    assert duplicate.line == 30
    assert "ESI ID 10443720001234567 channel 4 for 2026-06-01 already appears" in (
        duplicate.message
    )
    assert results[0] == first


def test_a_rejected_record_does_not_count_as_seen() -> None:
    bad = edit(lines_of(record(seed=1)), 7, ",A,,", ",Q,,")
    good = lines_of(record(seed=2))
    results = parse(bad + good)
    assert [type(r) for r in results] == [RejectedRecord, ParsedRecord]


# -- file-level faults ----------------------------------------------------------------------


@pytest.mark.parametrize("lines", [[], [""], ["\n", "  \n", "\t"]])
def test_empty_file_f13(lines: list[str]) -> None:
    error = file_error(lines)
    assert error.code is ResultCode.EMPTY_FILE


@pytest.mark.parametrize(
    "lines",
    [
        ["hello", *SAMPLE.splitlines()],
        SAMPLE.splitlines()[1:],
        [" 00000001,1000000000000000,4,20080510000000,20080510235900,Y,N"],
        ["PK\x03\x04\x14\x00"],
    ],
)
def test_first_row_not_a_header_f2(lines: list[str]) -> None:
    error = file_error(lines)
    assert error.code is ResultCode.MANDATORY_ELEMENT_MISSING
    assert error.line == 1
    assert "not with a 00000001 header row" in error.message


def test_too_many_records_f1_raised_when_the_count_passes_the_limit() -> None:
    records = [record(seed=i, esiid=f"1044372000000000{i}") for i in range(3)]
    lines = lines_of(*records)
    assert len(parse(lines, max_records=3)) == 3
    seen: list[ParsedRecord | RejectedRecord] = []
    with pytest.raises(LseFileError) as caught:
        for result in parse_lse(lines, sender_duns=SENDER, today=TODAY, max_records=2):
            seen.append(result)
    assert caught.value.code is ResultCode.TOO_MANY_RECORDS
    assert caught.value.line == 59
    assert "more than 2 records (record 3 starts at line 59)" in caught.value.message
    assert seen == records[:2]


@pytest.mark.parametrize(
    ("end", "words"),
    [
        (SAMPLE.index("7.82") + 1, "line 29: the file ends inside a row"),
        (SAMPLE.index("7.82,A") + 5, "line 29: the file ends inside a row"),
        (SAMPLE.index("7.82"), "line 1: the file ends after 95 of the record's 96 intervals"),
        (SAMPLE.index("10000010") + 12, "line 16: the file ends inside a row"),
        (SAMPLE.index("10000010") + 4, "line 16: the file ends inside a row"),
        (SAMPLE.index("\n"), "line 1: the file ends after a 00000001 row"),
        (SAMPLE.index("00000003"), "line 1: the record ends before its 00000003 row"),
        (SAMPLE.index(",M"), "line 4: the file ends inside a header row"),
        (SAMPLE.index("\n10000000") + 1, "file ends after 0 of the record's 96 intervals"),
    ],
)
def test_truncated_f14(end: int, words: str) -> None:
    error = file_error(SAMPLE[:end].splitlines())
    assert error.code is ResultCode.TRUNCATED
    assert words in error.message
    assert "cut off" in error.message


def test_truncation_is_raised_after_the_complete_records_before_it() -> None:
    good = record(esiid="10443720000000009")
    seen: list[ParsedRecord | RejectedRecord] = []
    with pytest.raises(LseFileError) as caught:
        for result in parse_lse(
            lines_of(good) + SAMPLE[:1000].splitlines(), sender_duns=SENDER, today=TODAY
        ):
            seen.append(result)
    assert caught.value.code is ResultCode.TRUNCATED
    assert seen == [good]


def test_a_file_that_stops_after_complete_rows_is_a_short_record_not_a_cut() -> None:
    result = rejected(SAMPLE.splitlines()[:-4])
    assert result.code is ResultCode.NOT_FULL_DAY


def test_sender_duns_is_validated() -> None:
    with pytest.raises(ValueError, match="DUNS"):
        parse_lse(SAMPLE.splitlines(), sender_duns="6666", today=TODAY)


# -- recovery, line numbers, streaming ------------------------------------------------------


def test_parsing_resumes_after_bad_records() -> None:
    good1 = record(seed=1, esiid="10443720000000001")
    good2 = record(seed=2, esiid="10443720000000002")
    good3 = record(seed=3, esiid="10443720000000003")
    bad_value = edit(lines_of(record(seed=4, esiid="10443720000000004")), 9, ",A,,", ",Z,,")
    headers_only = lines_of(record(seed=5, esiid="10443720000000005"))[:3]
    garbage = ["garbage that is no row at all", "", "10000000,1,A,,"]
    lines = lines_of(good1) + bad_value + headers_only + lines_of(good2) + garbage + lines_of(good3)
    results = parse(lines)
    assert [type(r) for r in results] == [
        ParsedRecord,
        RejectedRecord,
        RejectedRecord,
        RejectedRecord,
        ParsedRecord,
    ]
    assert [r.line for r in results] == [1, 30, 59, 62, 94]
    assert results[0] == good1
    assert results[-1] == good3
    bad = results[1:4]
    assert all(isinstance(r, RejectedRecord) for r in bad)
    second, third, fourth = (r for r in bad if isinstance(r, RejectedRecord))
    assert second.code is ResultCode.INVALID_VALUE
    assert "line 39, record 10000004, interval" in second.message
    assert third.code is ResultCode.BAD_FORMAT
    assert "line 59: the record ends before its 00000004 row" in third.message
    # good2 followed by lines that are no detail rows is no longer a well-formed record.
    assert fourth.code is ResultCode.BAD_FORMAT
    assert "line 91: detail row numbered 'garbage that' where 10000024" in fourth.message


def test_records_without_00000030_and_blank_lines_between_records() -> None:
    a = record(seed=1, esiid="10443720000000001", attributes=())
    b = record(seed=2, esiid="10443720000000002")
    lines = [*lines_of(a), "", "   ", *lines_of(b), ""]
    results = parse(lines)
    assert results == [a, b]
    assert [r.line for r in results] == [1, 31]


def test_parsing_is_lazy_and_reads_one_record_ahead_at_most() -> None:
    consumed = 0
    records = [record(seed=i, esiid=f"1044372000000000{i}") for i in range(5)]

    def source() -> Iterator[str]:
        nonlocal consumed
        for line in lines_of(*records):
            consumed += 1
            yield line

    results = parse_lse(source(), sender_duns=SENDER, today=TODAY)
    assert consumed == 0
    assert next(results) == records[0]
    assert consumed <= 29 + 1
    assert next(results) == records[1]
    assert consumed <= 2 * 29 + 1
    assert list(results) == records[2:]


def test_generation_channel_and_unknown_attributes() -> None:
    original = record(
        channel=1,
        attributes=(("MRE", SENDER), ("Sender", SENDER), ("FUTURE_KEY", "x=y")),
    )
    result = only(parse(lines_of(original)))
    assert result == original
    assert isinstance(result, ParsedRecord)
    assert result.attribute("future_key") == "x=y"
    assert result.attribute("REP") is None


def test_result_codes_are_documented_and_coherent() -> None:
    codes = " ".join(code.value for code in ResultCode)
    assert codes == "F1 F2 F10 F11 F12 F13 F14 F15 00 01 02 03 04 05 10 11 12 13"
    for code in ResultCode:
        assert code.description.endswith(".")
        assert code.file_level == code.value.startswith("F")
    assert not ResultCode.LOADED.is_error
    assert not ResultCode.UNCHANGED.is_error
    assert ResultCode.BAD_FORMAT.is_error
    assert ResultCode("02") is ResultCode.BAD_FORMAT
