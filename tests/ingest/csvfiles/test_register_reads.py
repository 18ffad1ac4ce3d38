"""Daily register reads: validation, versions, and the change events told to REPs."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

KIND = "register-reads"
ONCOR = "1039940674000"
CENTERPOINT = "957877905"
REP_A, REP_B = "148537214", "626765843"  # REPs of record of the sample's ESI IDs 1 and 2
ESIID_1, ESIID_2, ESIID_3 = "10443720000000001", "10443720000000002", "10443720000000003"
NOW = datetime(2026, 3, 10, 18, 0, tzinfo=UTC)
HEADER = "ESIID,METER_NUMBER,READ_DATE,START_READING,END_READING,KWH,RECORD_TIMESTAMP\n"


def reads(*rows: str) -> str:
    return HEADER + "".join(row + "\n" for row in rows)


@pytest.fixture
async def synced(load_csv, sample) -> None:
    """The meter-sync sample: three Oncor ESI IDs, their meters (one with multiplier 40), REPs."""
    assert (await load_csv("meter-sync", sample("meter-sync"))).summary.loaded == 3


async def events(raw, file_id) -> set[tuple[str, date, bool, int]]:
    rows = await raw.fetch(
        "SELECT rep_duns, operating_day, kind, supplemental, esiid_count"
        " FROM usage_change_events WHERE file_id = $1",
        file_id,
    )
    assert {r["kind"] for r in rows} <= {KIND}
    return {(r["rep_duns"], r["operating_day"], r["supplemental"], r["esiid_count"]) for r in rows}


async def test_sample_loads(synced, load_csv, sample, raw) -> None:
    loaded = await load_csv(KIND, sample(KIND))

    assert loaded.summary.total == 4 and loaded.summary.loaded == 4
    assert loaded.results[2] == ("00", "Loaded as version 1.")
    row = await raw.fetchrow(
        "SELECT * FROM daily_reads WHERE esiid = $1 AND read_date = '2026-03-01'", ESIID_2
    )
    assert row["start_reading"] == Decimal("8812.35") and row["end_reading"] == Decimal("8830.10")
    assert row["kwh"] == Decimal("710.0") and row["version"] == 1 and row["is_current"]
    assert row["record_created_at"] == datetime(2026, 3, 2, 9, 20, tzinfo=UTC)
    assert row["revision_at"] == NOW and row["source_file_id"] == loaded.file_id
    assert await events(raw, loaded.file_id) == {
        (REP_A, date(2026, 3, 1), False, 1),
        (REP_A, date(2026, 3, 2), False, 1),
        (REP_B, date(2026, 3, 1), False, 1),
        (REP_B, date(2026, 3, 2), False, 1),
    }
    report = await raw.fetchrow(
        "SELECT esiid, channel, operating_day FROM tdsp_file_results"
        " WHERE file_id = $1 AND line = 3",
        loaded.file_id,
    )
    assert tuple(report) == (ESIID_1, None, date(2026, 3, 2))


async def test_versions(synced, load_csv, raw) -> None:
    first = "10443720000000001,112233445,2026-03-05,100,110,10,2026-03-06T03:00:00-06:00"
    await load_csv(KIND, reads(first))

    same = await load_csv(KIND, reads(first))
    assert same.results[2] == ("13", "Identical to version 1, the current one: nothing changed.")
    assert same.summary.unchanged == 1 and await events(raw, same.file_id) == set()

    newer = "10443720000000001,112233445,2026-03-05,100,112.5,12.5,2026-03-07T03:00:00-06:00"
    replaced = await load_csv(KIND, reads(newer))
    assert replaced.results[2] == ("00", "Loaded as version 2; version 1 is kept as history.")
    assert await events(raw, replaced.file_id) == {(REP_A, date(2026, 3, 5), True, 1)}
    versions = await raw.fetch(
        "SELECT version, is_current, kwh, superseded_at FROM daily_reads"
        " WHERE esiid = $1 AND read_date = '2026-03-05' ORDER BY version",
        ESIID_1,
    )
    assert [tuple(v) for v in versions] == [
        (1, False, Decimal(10), NOW),
        (2, True, Decimal("12.5"), None),
    ]

    # The first version again (its older timestamp), then a same-time different value: 05.
    stale = await load_csv(KIND, reads(first))
    assert stale.results[2] == (
        "05",
        "RECORD_TIMESTAMP 2026-03-06T09:00:00Z is not newer than 2026-03-07T09:00:00Z of version"
        " 2, the current one; not loaded.",
    )
    tie = "10443720000000001,112233445,2026-03-05,100,111,11,2026-03-07T09:00:00Z"
    assert (await load_csv(KIND, reads(tie))).codes() == {2: "05"}
    assert await raw.fetchval("SELECT count(*) FROM daily_reads WHERE esiid = $1", ESIID_1) == 2


async def test_read_on_a_day_without_rep_of_record_tells_nobody(synced, load_csv, raw) -> None:
    # ESI ID 3's only REP period ended on 2026-02-01.
    loaded = await load_csv(
        KIND, reads("10443720000000003,112233447,2026-03-01,5,6,1,2026-03-02T03:00:00-06:00")
    )
    assert loaded.codes() == {2: "00"}
    assert await events(raw, loaded.file_id) == set()


async def test_two_esiids_of_one_rep_count_together(synced, load_csv, raw) -> None:
    await load_csv(
        "meter-sync",
        "ESIID,METER_NUMBER,TDSP_DUNS,REP_DUNS,REP_START_DATE,REP_END_DATE,PREMISE_TYPE,"
        "ADDRESS_LINE,CITY,STATE,ZIP_CODE,METER_MULTIPLIER,MANUFACTURER,MODEL,FIRMWARE_VERSION,"
        "INSTALL_DATE,PROVISION_DATE,REMOVAL_DATE\n"
        f"10443720000000004,M4,{ONCOR},{REP_A},2025-01-01,,residential,4 Oak St,Dallas,TX,75201,"
        "1,,,,2024-01-01,,\n",
    )
    loaded = await load_csv(
        KIND,
        reads(
            "10443720000000001,112233445,2026-03-04,1,2,1,2026-03-05T03:00:00-06:00",
            "10443720000000004,M4,2026-03-04,1,3,2,2026-03-05T03:00:00-06:00",
        ),
    )
    assert await events(raw, loaded.file_id) == {(REP_A, date(2026, 3, 4), False, 2)}


@pytest.mark.parametrize(
    ("row", "code", "fragment"),
    [
        (
            f"{ESIID_1},112233445,2026-03-03,,2,1,2026-03-04T03:00:00-06:00",
            "02",
            "START_READING is required but blank",
        ),
        (
            f"{ESIID_1},112233445,2026-03-03,1,2,1.5.0,2026-03-04T03:00:00-06:00",
            "02",
            "KWH '1.5.0' is not a decimal number",
        ),
        (
            f"{ESIID_1},112233445,2026-03-03,1,2,1.00001,2026-03-04T03:00:00-06:00",
            "02",
            "KWH '1.00001' has more than 4 decimal places",
        ),
        (
            f"{ESIID_1},112233445,2026-03-03,1,2,1,2026-03-04 03:00:00",
            "02",
            "RECORD_TIMESTAMP '2026-03-04 03:00:00' is not a timestamp with a UTC offset",
        ),
        (
            f"{ESIID_1},112233445,3/3/2026,1,2,1,2026-03-04T03:00:00-06:00",
            "02",
            "READ_DATE '3/3/2026' is not a calendar date",
        ),
        (
            f"{ESIID_1},112233445,2026-03-03,1,2,-1,2026-03-04T03:00:00-06:00",
            "01",
            "KWH '-1' is less than 0",
        ),
        (
            f"{ESIID_1},112233445,2026-03-03,5,2,1,2026-03-04T03:00:00-06:00",
            "01",
            "END_READING 2 is less than START_READING 5",
        ),
        (
            f"{ESIID_2},112233446,2026-03-03,100,101,1,2026-03-04T03:00:00-06:00",
            "01",
            "KWH 1 does not match (END_READING 101 - START_READING 100) x meter multiplier 40 = 40",
        ),
        (
            f"{ESIID_1},112233445,2026-03-10,1,2,1,2026-03-10T03:00:00-06:00",
            "04",
            "READ_DATE 2026-03-10 has not ended yet",
        ),
        (
            f"{ESIID_1},112233445,2026-03-03,1,2,1,2026-03-11T03:00:00-06:00",
            "04",
            "RECORD_TIMESTAMP 2026-03-11T03:00:00-06:00 is in the future",
        ),
        (
            "10443720000000077,112233445,2026-03-03,1,2,1,2026-03-04T03:00:00-06:00",
            "10",
            f"ESI ID 10443720000000077 is unknown or not in the territory of TDSP {ONCOR}",
        ),
        (
            f"{ESIID_1},999,2026-03-03,1,2,1,2026-03-04T03:00:00-06:00",
            "20",
            f"METER_NUMBER 999 is not a meter of ESI ID {ESIID_1}",
        ),
        (
            f"{ESIID_1},112233445,2026-03-01,1,2,1,2026-03-04T03:00:00-06:00",
            "12",
            f"ESI ID {ESIID_1}, meter 112233445 and read date 2026-03-01 already appear at line 2",
        ),
        (f"{ESIID_1},112233445,2026-03-03,1,2,1", "02", "The row has 6 fields; the header has 7"),
    ],
)
async def test_row_rejections(synced, load_csv, raw, row, code, fragment) -> None:
    good = f"{ESIID_1},112233445,2026-03-01,1,2,1,2026-03-02T03:00:00-06:00"
    loaded = await load_csv(KIND, reads(good, row))

    assert loaded.codes() == {2: "00", 3: code}
    assert fragment in loaded.results[3][1]
    assert (loaded.summary.loaded, loaded.summary.rejected) == (1, 1)
    assert await raw.fetchval("SELECT count(*) FROM daily_reads") == 1


async def test_kwh_within_tolerance_loads(synced, load_csv) -> None:
    # (8830.10 - 8812.35) x 40 = 710.0; a whole-number 710.4 is within half a kWh.
    loaded = await load_csv(
        KIND, reads(f"{ESIID_2},112233446,2026-03-01,8812.35,8830.10,710.4,2026-03-02T03:20:00Z")
    )
    assert loaded.codes() == {2: "00"}


async def test_other_tdsps_esiid_is_10(synced, load_csv, raw) -> None:
    loaded = await load_csv(
        KIND,
        reads(f"{ESIID_1},112233445,2026-03-01,1,2,1,2026-03-02T03:00:00-06:00"),
        sender=CENTERPOINT,
    )
    assert loaded.codes() == {2: "10"}
    assert await raw.fetchval("SELECT count(*) FROM daily_reads") == 0
