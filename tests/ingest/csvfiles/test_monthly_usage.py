"""Monthly billed usage: billing periods, versions (rebills), overlaps and change events."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

KIND = "monthly-usage"
ONCOR = "1039940674000"
REP_A, REP_B = "148537214", "626765843"
ESIID_1, ESIID_2 = "10443720000000001", "10443720000000002"
NOW = datetime(2026, 3, 10, 18, 0, tzinfo=UTC)
HEADER = "ESIID,METER_NUMBER,PERIOD_START,PERIOD_END,KWH,DEMAND_KW,RECORD_TIMESTAMP\n"
SYNC_HEADER = (
    "ESIID,METER_NUMBER,TDSP_DUNS,REP_DUNS,REP_START_DATE,REP_END_DATE,PREMISE_TYPE,"
    "ADDRESS_LINE,CITY,STATE,ZIP_CODE,METER_MULTIPLIER,MANUFACTURER,MODEL,FIRMWARE_VERSION,"
    "INSTALL_DATE,PROVISION_DATE,REMOVAL_DATE\n"
)


def usage(*rows: str) -> str:
    return HEADER + "".join(row + "\n" for row in rows)


def days(first: date, last: date) -> list[date]:
    return [first + timedelta(n) for n in range((last - first).days + 1)]


@pytest.fixture
async def synced(load_csv, sample) -> None:
    assert (await load_csv("meter-sync", sample("meter-sync"))).summary.loaded == 3


async def events(raw, file_id) -> dict[tuple[str, date], tuple[bool, int]]:
    rows = await raw.fetch(
        "SELECT rep_duns, operating_day, kind, supplemental, esiid_count"
        " FROM usage_change_events WHERE file_id = $1",
        file_id,
    )
    assert {r["kind"] for r in rows} <= {KIND}
    found = {
        (r["rep_duns"], r["operating_day"]): (r["supplemental"], r["esiid_count"]) for r in rows
    }
    assert len(found) == len(rows)
    return found


async def test_sample_loads(synced, load_csv, sample, raw) -> None:
    loaded = await load_csv(KIND, sample(KIND))

    assert loaded.summary.total == 3 and loaded.summary.loaded == 3
    row = await raw.fetchrow("SELECT * FROM monthly_usage WHERE esiid = $1", ESIID_2)
    assert (row["period_start"], row["period_end"]) == (date(2026, 1, 20), date(2026, 2, 19))
    assert row["kwh"] == Decimal(21480) and row["demand_kw"] == Decimal("61.2")
    assert row["version"] == 1 and row["is_current"] and row["source_file_id"] == loaded.file_id
    found = await events(raw, loaded.file_id)
    # REP B serves ESI ID 2: every day of its period, 2026-01-20 up to (not incl.) 02-19.
    assert {day for rep, day in found if rep == REP_B} == set(
        days(date(2026, 1, 20), date(2026, 2, 18))
    )
    # REP A serves ESI IDs 1 (2026-01-14..02-11) and 3 (2025-12-18..2026-01-19): both on 01-14..19.
    assert found[(REP_A, date(2026, 1, 14))] == (False, 2)
    assert found[(REP_A, date(2026, 1, 20))] == (False, 1)
    assert found[(REP_A, date(2025, 12, 18))] == (False, 1)
    assert (REP_A, date(2026, 2, 12)) not in found


async def test_period_spanning_a_rep_switch_tells_each_rep_its_days(synced, load_csv, raw) -> None:
    await load_csv(
        "meter-sync",
        SYNC_HEADER + f"{ESIID_1},112233445,{ONCOR},{REP_B},2026-02-01,,residential,"
        "1201 Elm St Apt 4,Dallas,TX,75270,1,Landis+Gyr,Focus AXe-SD,4.12.1,2024-03-11,"
        "2024-03-14,\n",
    )
    loaded = await load_csv(
        KIND, usage(f"{ESIID_1},112233445,2026-01-14,2026-02-12,1032.5,,2026-02-13T05:00:00-06:00")
    )
    found = await events(raw, loaded.file_id)
    assert sorted(day for rep, day in found if rep == REP_A) == days(
        date(2026, 1, 14), date(2026, 1, 31)
    )
    assert sorted(day for rep, day in found if rep == REP_B) == days(
        date(2026, 2, 1), date(2026, 2, 11)
    )


async def test_versions(synced, load_csv, raw) -> None:
    first = f"{ESIID_2},112233446,2026-01-20,2026-02-19,21480,61.2,2026-02-20T05:00:00-06:00"
    await load_csv(KIND, usage(first))
    assert (await load_csv(KIND, usage(first))).codes() == {2: "13"}

    # A rebill moves the period's end and drops the demand.
    rebill = f"{ESIID_2},112233446,2026-01-20,2026-02-18,20990,,2026-02-25T05:00:00-06:00"
    replaced = await load_csv(KIND, usage(rebill))
    assert replaced.results[2] == ("00", "Loaded as version 2; version 1 is kept as history.")
    found = await events(raw, replaced.file_id)
    assert found[(REP_B, date(2026, 1, 20))] == (True, 1)
    assert (REP_B, date(2026, 2, 18)) not in found
    versions = await raw.fetch(
        "SELECT version, is_current, period_end, kwh, demand_kw, superseded_at"
        " FROM monthly_usage WHERE esiid = $1 ORDER BY version",
        ESIID_2,
    )
    assert [tuple(v) for v in versions] == [
        (1, False, date(2026, 2, 19), Decimal(21480), Decimal("61.2"), NOW),
        (2, True, date(2026, 2, 18), Decimal(20990), None, None),
    ]

    stale = await load_csv(KIND, usage(first))
    assert stale.codes() == {2: "05"}
    assert "is not newer than 2026-02-25T11:00:00Z of version 2" in stale.results[2][1]


async def test_overlapping_billing_periods_are_22(synced, load_csv, raw) -> None:
    await load_csv(
        KIND, usage(f"{ESIID_1},112233445,2026-01-14,2026-02-12,1032.5,,2026-02-13T05:00:00-06:00")
    )
    loaded = await load_csv(
        KIND,
        usage(
            # Overlaps the stored period by two days.
            f"{ESIID_1},112233445,2026-02-10,2026-03-09,900,,2026-03-09T12:00:00-06:00",
            # Touches the stored period (periods are half-open) and the rejected row: loads.
            f"{ESIID_1},112233445,2026-02-12,2026-03-05,880,,2026-03-09T12:00:00-06:00",
            # Overlaps the row above, which loads.
            f"{ESIID_1},112233445,2026-02-20,2026-03-08,10,,2026-03-09T12:00:00-06:00",
        ),
    )
    assert loaded.codes() == {2: "22", 3: "00", 4: "22"}
    assert loaded.results[2][1] == (
        "Billing period 2026-02-10 to 2026-03-09 overlaps the billing period 2026-01-14 to "
        "2026-02-12 of meter 112233445 already loaded."
    )
    assert (
        "overlaps the billing period 2026-02-12 to 2026-03-05 of meter 112233445 loaded from line 3"
        in (loaded.results[4][1])
    )


async def test_overlaps_are_decided_in_file_order(synced, load_csv) -> None:
    stored = f"{ESIID_1},112233445,2026-01-14,2026-02-12,1032.5,,2026-02-13T05:00:00-06:00"
    new_period = f"{ESIID_1},112233445,2026-02-10,2026-03-09,900,,2026-03-09T12:00:00-06:00"
    rebill = f"{ESIID_1},112233445,2026-01-14,2026-02-10,990,,2026-03-09T12:00:00-06:00"
    await load_csv(KIND, usage(stored))

    # The new period comes before the rebill that would make room for it: 22.
    assert (await load_csv(KIND, usage(new_period, rebill))).codes() == {2: "22", 3: "00"}


async def test_rebill_first_makes_room_in_the_same_file(synced, load_csv, raw) -> None:
    stored = f"{ESIID_1},112233445,2026-01-14,2026-02-12,1032.5,,2026-02-13T05:00:00-06:00"
    rebill = f"{ESIID_1},112233445,2026-01-14,2026-02-10,990,,2026-03-09T12:00:00-06:00"
    new_period = f"{ESIID_1},112233445,2026-02-10,2026-03-09,900,,2026-03-09T12:00:00-06:00"
    await load_csv(KIND, usage(stored))

    # A stale rebill (05) leaves the stored period in place, so the new period still clashes.
    stale_rebill = rebill.replace("2026-03-09T12:00:00", "2026-02-01T12:00:00")
    assert (await load_csv(KIND, usage(stale_rebill, new_period))).codes() == {2: "05", 3: "22"}

    loaded = await load_csv(KIND, usage(rebill, new_period))
    assert loaded.codes() == {2: "00", 3: "00"}
    current = await raw.fetch(
        "SELECT period_start, period_end FROM monthly_usage WHERE esiid = $1 AND is_current"
        " ORDER BY period_start",
        ESIID_1,
    )
    assert [tuple(r) for r in current] == [
        (date(2026, 1, 14), date(2026, 2, 10)),
        (date(2026, 2, 10), date(2026, 3, 9)),
    ]


@pytest.mark.parametrize(
    ("row", "code", "fragment"),
    [
        (
            f"{ESIID_1},112233445,2026-02-12,2026-02-12,1,,2026-03-01T00:00:00Z",
            "01",
            "PERIOD_END 2026-02-12 is not after PERIOD_START 2026-02-12",
        ),
        (
            f"{ESIID_1},112233445,2025-02-12,2026-02-12,1,,2026-03-01T00:00:00Z",
            "01",
            "is 365 days long; at most 62 are accepted",
        ),
        (
            f"{ESIID_1},112233445,2026-02-12,2026-03-11,1,,2026-03-01T00:00:00Z",
            "04",
            "PERIOD_END 2026-03-11 is after today (2026-03-10",
        ),
        (
            f"{ESIID_1},112233445,2026-02-12,2026-03-10,1,-2,2026-03-01T00:00:00Z",
            "01",
            "DEMAND_KW '-2' is less than 0",
        ),
        (
            f"{ESIID_1},112233445,2026-02-12,2026-03-10,1,kW,2026-03-01T00:00:00Z",
            "02",
            "DEMAND_KW 'kW' is not a decimal number",
        ),
        (
            f"{ESIID_1},112233445,2026-02-12,2026-03-10,,,2026-03-01T00:00:00Z",
            "02",
            "KWH is required but blank",
        ),
        (
            f"{ESIID_1},112233445,2026-02-12,2026-03-10,12345678901,,2026-03-01T00:00:00Z",
            "01",
            "KWH '12345678901' is too large",
        ),
        (
            "10443720000000077,112233445,2026-02-12,2026-03-10,1,,2026-03-01T00:00:00Z",
            "10",
            "ESI ID 10443720000000077 is unknown or not in the territory",
        ),
        (
            f"{ESIID_1},M-1,2026-02-12,2026-03-10,1,,2026-03-01T00:00:00Z",
            "20",
            f"METER_NUMBER M-1 is not a meter of ESI ID {ESIID_1}",
        ),
        (
            f"{ESIID_1},112233445,2026-01-14,2026-02-10,1,,2026-03-01T00:00:00Z",
            "12",
            "and PERIOD_START 2026-01-14 already appear at line 2",
        ),
    ],
)
async def test_row_rejections(synced, load_csv, raw, row, code, fragment) -> None:
    good = f"{ESIID_1},112233445,2026-01-14,2026-02-12,1032.5,,2026-02-13T05:00:00-06:00"
    loaded = await load_csv(KIND, usage(good, row))

    assert loaded.codes() == {2: "00", 3: code}
    assert fragment in loaded.results[3][1]
    assert (loaded.summary.loaded, loaded.summary.rejected) == (1, 1)
    assert await raw.fetchval("SELECT count(*) FROM monthly_usage") == 1
