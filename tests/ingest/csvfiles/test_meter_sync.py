"""Meter-data-sync files: ESI IDs, meters and the REP service history that drives access."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import date
from decimal import Decimal

import asyncpg
import pytest

KIND = "meter-sync"
ONCOR = "1039940674000"
CENTERPOINT = "957877905"
REP_A, REP_B, REP_C = "148537214", "626765843", "111222333"

HEADER = (
    "ESIID,METER_NUMBER,TDSP_DUNS,REP_DUNS,REP_START_DATE,REP_END_DATE,PREMISE_TYPE,ADDRESS_LINE,"
    "CITY,STATE,ZIP_CODE,METER_MULTIPLIER,MANUFACTURER,MODEL,FIRMWARE_VERSION,INSTALL_DATE,"
    "PROVISION_DATE,REMOVAL_DATE"
)
COLUMNS = HEADER.split(",")

BASE = {
    "ESIID": "10443720000000009",
    "METER_NUMBER": "M9",
    "TDSP_DUNS": ONCOR,
    "REP_DUNS": REP_A,
    "REP_START_DATE": "2025-01-01",
    "REP_END_DATE": "",
    "PREMISE_TYPE": "residential",
    "ADDRESS_LINE": "9 Main St",
    "CITY": "Dallas",
    "STATE": "TX",
    "ZIP_CODE": "75201",
    "METER_MULTIPLIER": "1",
    "MANUFACTURER": "Itron",
    "MODEL": "OpenWay",
    "FIRMWARE_VERSION": "3.1",
    "INSTALL_DATE": "2024-05-01",
    "PROVISION_DATE": "2024-05-02",
    "REMOVAL_DATE": "",
}


def sync_file(*rows: dict[str, str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([{**BASE, **row}[name] for name in COLUMNS])
    return out.getvalue()


async def history(raw: asyncpg.Connection, esiid: str) -> list[tuple[date, date | None, str]]:
    rows = await raw.fetch(
        "SELECT start_date, end_date, rep_duns FROM service_history WHERE esiid = $1"
        " ORDER BY start_date",
        esiid,
    )
    return [(r["start_date"], r["end_date"], r["rep_duns"]) for r in rows]


async def test_sample_loads(load_csv, sample: Callable[[str], str], raw) -> None:
    loaded = await load_csv(KIND, sample(KIND))

    assert loaded.summary.total == 3 and loaded.summary.loaded == 3
    assert loaded.codes() == {2: "00", 3: "00", 4: "00"}
    business = await raw.fetchrow("SELECT * FROM esiids WHERE esiid = '10443720000000002'")
    assert business["tdsp_duns"] == ONCOR and business["premise_type"] == "business"
    assert business["address_line"] == "500 Commerce St, Suite 200"
    assert business["zip_code"] == "76102-1234"
    meter = await raw.fetchrow("SELECT * FROM meters WHERE meter_number = '112233446'")
    assert meter["multiplier"] == Decimal(40) and meter["model"] == "OpenWay CENTRON"
    assert meter["install_date"] == date(2023, 8, 2) and meter["removal_date"] is None
    assert await history(raw, "10443720000000003") == [(date(2024, 9, 20), date(2026, 2, 1), REP_A)]


async def test_resending_the_same_file_is_unchanged(load_csv, sample, raw) -> None:
    await load_csv(KIND, sample(KIND))
    again = await load_csv(KIND, sample(KIND))

    assert again.summary.unchanged == 3 and again.summary.loaded == 0
    assert set(again.codes().values()) == {"13"}
    assert await raw.fetchval("SELECT count(*) FROM service_history") == 3


async def test_rep_switch_mid_month_closes_the_open_period(load_csv, raw) -> None:
    await load_csv(KIND, sync_file({}))
    switched = await load_csv(KIND, sync_file({"REP_DUNS": REP_B, "REP_START_DATE": "2026-02-15"}))

    assert switched.codes() == {2: "00"}
    assert f"period of REP {REP_A} from 2025-01-01 now ends 2026-02-15" in switched.results[2][1]
    assert await history(raw, BASE["ESIID"]) == [
        (date(2025, 1, 1), date(2026, 2, 15), REP_A),
        (date(2026, 2, 15), None, REP_B),
    ]
    # The REP of record on each side of the switch, as access checks will ask it.
    for day, rep in ((date(2026, 2, 14), REP_A), (date(2026, 2, 15), REP_B)):
        assert (
            await raw.fetchval(
                "SELECT rep_duns FROM service_history WHERE esiid = $1"
                " AND daterange(start_date, end_date) @> $2::date",
                BASE["ESIID"],
                day,
            )
            == rep
        )
    # The same statement the next day changes nothing.
    again = await load_csv(KIND, sync_file({"REP_DUNS": REP_B, "REP_START_DATE": "2026-02-15"}))
    assert again.codes() == {2: "13"}


async def test_same_start_corrects_the_period(load_csv, raw) -> None:
    await load_csv(KIND, sync_file({}))
    ended = await load_csv(KIND, sync_file({"REP_END_DATE": "2026-03-01"}))

    assert ended.codes() == {2: "00"}
    assert await history(raw, BASE["ESIID"]) == [(date(2025, 1, 1), date(2026, 3, 1), REP_A)]


async def test_backfilled_period_before_the_stored_ones_loads(load_csv, raw) -> None:
    await load_csv(KIND, sync_file({}))
    older = sync_file(
        {"REP_DUNS": REP_C, "REP_START_DATE": "2024-06-01", "REP_END_DATE": "2025-01-01"}
    )
    loaded = await load_csv(KIND, older)

    assert loaded.codes() == {2: "00"}
    assert await history(raw, BASE["ESIID"]) == [
        (date(2024, 6, 1), date(2025, 1, 1), REP_C),
        (date(2025, 1, 1), None, REP_A),
    ]


async def test_overlapping_rep_period_is_21(load_csv, raw) -> None:
    await load_csv(KIND, sync_file({}))
    await load_csv(KIND, sync_file({"REP_DUNS": REP_B, "REP_START_DATE": "2026-02-15"}))
    # Starts inside REP A's now closed period: neither a correction nor a switch.
    late = await load_csv(KIND, sync_file({"REP_DUNS": REP_C, "REP_START_DATE": "2025-06-01"}))

    assert late.codes() == {2: "21"}
    message = late.results[2][1]
    assert f"REP {REP_C} from 2025-06-01" in message
    assert f"stored period of REP {REP_A} from 2025-01-01 to 2026-02-15" in message
    assert len(await history(raw, BASE["ESIID"])) == 2


async def test_meter_attributes_update_without_touching_history(load_csv, raw) -> None:
    await load_csv(KIND, sync_file({}))
    upgraded = await load_csv(
        KIND, sync_file({"FIRMWARE_VERSION": "3.2", "METER_MULTIPLIER": "1.0000"})
    )

    assert upgraded.codes() == {2: "00"}
    meter = await raw.fetchrow("SELECT * FROM meters WHERE esiid = $1", BASE["ESIID"])
    assert meter["firmware_version"] == "3.2"
    assert await history(raw, BASE["ESIID"]) == [(date(2025, 1, 1), None, REP_A)]


async def test_two_meters_of_one_esiid(load_csv, raw) -> None:
    loaded = await load_csv(KIND, sync_file({}, {"METER_NUMBER": "M10"}))

    assert loaded.codes() == {2: "00", 3: "00"}
    assert await raw.fetchval("SELECT count(*) FROM meters WHERE esiid = $1", BASE["ESIID"]) == 2
    assert len(await history(raw, BASE["ESIID"])) == 1


async def test_another_tdsps_esiid_is_10(load_csv, raw) -> None:
    await load_csv(KIND, sync_file({}))
    theft = sync_file({"TDSP_DUNS": CENTERPOINT, "REP_DUNS": REP_C, "REP_START_DATE": "2026-03-01"})
    loaded = await load_csv(KIND, theft, sender=CENTERPOINT)

    assert loaded.codes() == {2: "10"}
    assert "another TDSP's territory" in loaded.results[2][1]
    assert (
        await raw.fetchval("SELECT tdsp_duns FROM esiids WHERE esiid = $1", BASE["ESIID"]) == ONCOR
    )
    assert await history(raw, BASE["ESIID"]) == [(date(2025, 1, 1), None, REP_A)]


@pytest.mark.parametrize(
    ("change", "code", "fragment"),
    [
        ({"ESIID": "1044-3720"}, "02", "ESIID '1044-3720' is not an ESI ID"),
        ({"METER_NUMBER": ""}, "02", "METER_NUMBER is required but blank"),
        ({"REP_DUNS": "12345"}, "02", "REP_DUNS '12345' is not a DUNS number"),
        ({"REP_START_DATE": "01/02/2025"}, "02", "REP_START_DATE '01/02/2025' is not a calendar"),
        ({"INSTALL_DATE": "2024-02-30"}, "02", "INSTALL_DATE '2024-02-30' is not a calendar"),
        ({"ZIP_CODE": "7520"}, "02", "ZIP_CODE '7520' is not a ZIP code"),
        ({"METER_MULTIPLIER": "1.00001"}, "02", "METER_MULTIPLIER '1.00001' has more than 4"),
        ({"METER_MULTIPLIER": "1e3"}, "02", "METER_MULTIPLIER '1e3' is not a decimal number"),
        ({"METER_MULTIPLIER": "0"}, "01", "METER_MULTIPLIER 0 is not greater than 0"),
        ({"PREMISE_TYPE": "industrial"}, "01", "PREMISE_TYPE 'industrial' is neither"),
        ({"STATE": "XX"}, "01", "STATE 'XX' is not a USPS state code"),
        ({"REP_END_DATE": "2025-01-01"}, "01", "REP_END_DATE 2025-01-01 is not after"),
        ({"REMOVAL_DATE": "2024-04-01"}, "01", "REMOVAL_DATE 2024-04-01 is before INSTALL_DATE"),
        ({"REP_START_DATE": "2026-03-11"}, "04", "REP_START_DATE 2026-03-11 is after today"),
        ({"TDSP_DUNS": CENTERPOINT}, "11", f"TDSP_DUNS {CENTERPOINT} is not the sending TDSP"),
    ],
)
async def test_row_rejections(load_csv, raw, change, code, fragment) -> None:
    loaded = await load_csv(
        KIND, sync_file({"ESIID": "10443720000000008", "METER_NUMBER": "M8"}, change)
    )

    assert loaded.codes() == {2: "00", 3: code}
    assert fragment in loaded.results[3][1]
    assert loaded.summary.loaded == 1 and loaded.summary.rejected == 1
    assert await raw.fetchval("SELECT count(*) FROM meters") == 1


async def test_duplicate_and_disagreeing_rows_are_12(load_csv, raw) -> None:
    loaded = await load_csv(
        KIND,
        sync_file({}, {"FIRMWARE_VERSION": "9"}, {"METER_NUMBER": "M10", "REP_DUNS": REP_B}),
    )

    assert loaded.codes() == {2: "00", 3: "12", 4: "12"}
    assert "ESI ID 10443720000000009 and meter M9 already appear at line 2" in loaded.results[3][1]
    assert "appears at line 2 of this file with a different REP_DUNS" in loaded.results[4][1]
    assert await history(raw, BASE["ESIID"]) == [(date(2025, 1, 1), None, REP_A)]
