"""Daily meter reads, monthly billed usage and premise data."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import date

import httpx

from tests.usage_api.conftest import REP_A, REP_B, Builder, bearer


async def test_daily_reads_json_and_csv(
    client: httpx.AsyncClient, data: Builder, make_token
) -> None:
    esiid = await data.esiid(meters=("M1", "M2"))
    await data.service(esiid, REP_A, date(2026, 1, 1))
    await data.daily(esiid, date(2026, 11, 1), "12.3456")
    await data.daily(esiid, date(2026, 11, 1), "7.0000", meter="M2")
    await data.daily(esiid, date(2026, 11, 2), "30.0001")
    rep = bearer(make_token("rep", REP_A))
    path = f"/v1/esiids/{esiid}/daily-reads?start=2026-11-01&end=2026-11-30"
    body = (await client.get(path, headers=rep)).json()
    assert [(r["read_date"], r["meter_number"], r["kwh"]) for r in body["reads"]] == [
        ("2026-11-01", "M1", "12.3456"),
        ("2026-11-01", "M2", "7.0000"),
        ("2026-11-02", "M1", "30.0001"),
    ]
    assert body["reads"][0]["start_reading"] == "10000.0000"
    assert body["reads"][0]["end_reading"] == "10012.3456"
    rows = list(
        csv.DictReader(
            io.StringIO((await client.get(path, headers={**rep, "Accept": "text/csv"})).text)
        )
    )
    assert rows[0] == {
        "ESIID": esiid,
        "USAGE_DATE": "11/01/2026",
        "REVISION_DATE": "11/01/2026 18:00:00",
        "METER_NUMBER": "M1",
        "START_READING": "10000.0000",
        "END_READING": "10012.3456",
        "USAGE_KWH": "12.3456",
    }
    too_long = await client.get(
        f"/v1/esiids/{esiid}/daily-reads?start=2023-01-01&end=2026-11-20", headers=rep
    )
    assert too_long.status_code == 422


async def test_monthly_usage_shows_whole_billing_periods_in_24_months(
    client: httpx.AsyncClient, data: Builder, make_token
) -> None:
    esiid = await data.esiid()
    await data.service(esiid, REP_A, date(2024, 1, 1), date(2026, 6, 15))
    await data.service(esiid, REP_B, date(2026, 6, 15))
    await data.monthly(esiid, date(2024, 10, 1), date(2024, 10, 31), "900.0000")  # > 24 months
    await data.monthly(esiid, date(2024, 12, 1), date(2024, 12, 31), "950.0000")
    await data.monthly(esiid, date(2026, 5, 16), date(2026, 6, 15), "1000.0000")
    await data.monthly(esiid, date(2026, 6, 15), date(2026, 7, 14), "1100.0000")
    rep_a = bearer(make_token("rep", REP_A))
    body = (await client.get(f"/v1/esiids/{esiid}/monthly-usage", headers=rep_a)).json()
    assert [(u["period_start"], u["kwh"]) for u in body["usage"]] == [
        ("2024-12-01", "950.0000"),
        ("2026-05-16", "1000.0000"),
    ]
    assert body["start"] == "2024-11-20" and body["end"] == "2026-11-20"
    rep_b = bearer(make_token("rep", REP_B))
    body = (await client.get(f"/v1/esiids/{esiid}/monthly-usage", headers=rep_b)).json()
    assert [u["period_start"] for u in body["usage"]] == ["2026-06-15"]
    # A customer who moved in on the 20th never sees the bill that began before.
    customer = await data.customer(f"mover-{uuid.uuid4().hex[:6]}")
    await data.link(customer, esiid, date(2026, 5, 20))
    mover = bearer(make_token("customer", entity_id=customer))
    body = (await client.get(f"/v1/esiids/{esiid}/monthly-usage", headers=mover)).json()
    assert [u["period_start"] for u in body["usage"]] == ["2026-06-15"]
    as_csv = await client.get(
        f"/v1/esiids/{esiid}/monthly-usage?start=2026-06-01&end=2026-06-30",
        headers={**mover, "Accept": "text/csv"},
    )
    assert as_csv.text.splitlines()[1] == (
        f"{esiid},M1,06/15/2026,07/14/2026,07/13/2026 19:00:00,1100.0000,5.2000"
    )


async def test_premise_and_meters(client: httpx.AsyncClient, data: Builder, make_token) -> None:
    esiid = await data.esiid(meters=("M1", "M2"), city="Waco")
    await data.service(esiid, REP_A, date(2026, 1, 1))
    body = (
        await client.get(f"/v1/esiids/{esiid}", headers=bearer(make_token("rep", REP_A)))
    ).json()
    assert body["esiid"] == esiid
    assert body["address"] == {
        "line": "1 Main St",
        "city": "Waco",
        "state": "TX",
        "zip_code": "75201",
    }
    assert [m["meter_number"] for m in body["meters"]] == ["M1", "M2"]
    assert body["meters"][0]["multiplier"] == "1.0000"
    assert body["meters"][0]["install_date"] == "2020-01-15"


async def test_a_former_rep_sees_the_premise_for_48_months(
    client: httpx.AsyncClient, data: Builder, make_token
) -> None:
    recent, long_ago = await data.esiid(), await data.esiid()
    await data.service(recent, REP_A, date(2020, 1, 1), date(2024, 1, 1))
    await data.service(long_ago, REP_A, date(2018, 1, 1), date(2022, 1, 1))
    rep = bearer(make_token("rep", REP_A))
    assert (await client.get(f"/v1/esiids/{recent}", headers=rep)).status_code == 200
    assert (await client.get(f"/v1/esiids/{long_ago}", headers=rep)).status_code == 404
