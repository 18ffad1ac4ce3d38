"""GET /v1/esiids/{esiid}/intervals: DST days in JSON, CSV and Green Button, versions,
aggregation in the database, and the synchronous limits."""

from __future__ import annotations

import csv
import io
import itertools
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from lxml import etree

from meterhub_common.domain.operating_day import day_bounds
from tests.usage_api.conftest import REP_A, Builder, bearer, sample_kwh

SPRING, FALL, PLAIN = date(2026, 3, 8), date(2026, 11, 1), date(2026, 11, 2)
ATOM = "{http://www.w3.org/2005/Atom}"
ESPI = "{http://naesb.org/espi}"


@pytest.fixture
async def esiid(data: Builder) -> str:
    esiid = await data.esiid()
    await data.service(esiid, REP_A, date(2025, 1, 1))
    return esiid


@pytest.fixture
def rep(make_token) -> dict[str, str]:
    return bearer(make_token("rep", REP_A))


def url(esiid: str, start: date, end: date | None = None, **query: str) -> str:
    extra = "".join(f"&{k}={v}" for k, v in query.items())
    return f"/v1/esiids/{esiid}/intervals?start={start}&end={end or start}{extra}"


async def test_fall_back_day_has_100_intervals_with_both_offsets(
    client: httpx.AsyncClient, data: Builder, esiid: str, rep: dict[str, str]
) -> None:
    kwh = sample_kwh(FALL)
    kwh[9] = None  # a missing interval in the repeated hour
    statuses = "".join("-" if v is None else ("E" if i == 8 else "A") for i, v in enumerate(kwh))
    await data.intervals(esiid, FALL, kwh, statuses)
    response = await client.get(url(esiid, FALL), headers=rep)
    assert response.status_code == 200, response.text
    day = response.json()["days"][0]
    assert day["interval_count"] == 100
    items = day["intervals"]
    assert len(items) == 100
    assert items[0]["start"] == "2026-11-01T00:00:00-05:00"
    assert [i["start"] for i in items[4:12:4]] == [
        "2026-11-01T01:00:00-05:00",
        "2026-11-01T01:00:00-06:00",
    ]
    assert items[7]["end"] == "2026-11-01T01:00:00-06:00"
    assert items[-1]["end"] == "2026-11-02T00:00:00-06:00"
    assert items[8] == {
        "start": "2026-11-01T01:00:00-06:00",
        "end": "2026-11-01T01:15:00-06:00",
        "kwh": kwh[8],
        "status": "E",
    }
    assert items[9]["kwh"] is None and items[9]["status"] is None
    # Every instant is distinct and 15 minutes after the previous one.
    starts = [datetime.fromisoformat(i["start"]) for i in items]
    assert all(b - a == timedelta(minutes=15) for a, b in itertools.pairwise(starts))
    # kWh is the exact decimal as stored.
    assert [i["kwh"] for i in items] == kwh


async def test_spring_forward_day_has_92_intervals(
    client: httpx.AsyncClient, data: Builder, esiid: str, rep: dict[str, str]
) -> None:
    await data.intervals(esiid, SPRING)
    items = (await client.get(url(esiid, SPRING), headers=rep)).json()["days"][0]["intervals"]
    assert len(items) == 92
    assert items[7]["start"] == "2026-03-08T01:45:00-06:00"
    assert items[7]["end"] == "2026-03-08T03:00:00-05:00"
    assert items[8]["start"] == "2026-03-08T03:00:00-05:00"


async def test_csv_is_smts_interval_layout(
    client: httpx.AsyncClient, data: Builder, esiid: str, rep: dict[str, str]
) -> None:
    kwh = sample_kwh(FALL)
    kwh[2] = None
    statuses = "".join("-" if v is None else "E" if i == 3 else "A" for i, v in enumerate(kwh))
    revision = datetime(2026, 11, 2, 11, 18, 6, tzinfo=UTC)  # 05:18:06 in Dallas
    await data.intervals(esiid, FALL, kwh, statuses, revision_at=revision)
    response = await client.get(url(esiid, FALL), headers={**rep, "Accept": "text/csv"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    lines = response.text.splitlines()
    assert lines[0] == (
        "ESIID,USAGE_DATE,REVISION_DATE,USAGE_START_TIME,USAGE_END_TIME,USAGE_KWH,"
        "ESTIMATED_ACTUAL,CONSUMPTION_SURPLUSGENERATION"
    )
    rows = list(csv.reader(io.StringIO(response.text)))[1:]
    assert len(rows) == 100
    assert rows[0] == [
        esiid,
        "11/01/2026",
        "11/02/2026 05:18:06",
        "00:00",
        "00:15",
        kwh[0],
        "A",
        "Consumption",
    ]
    assert rows[2][5:7] == ["", ""]  # missing: no value, no flag
    assert rows[3][6] == "E"
    # The repeated hour appears twice, in interval order; the last interval ends 00:00.
    assert [r[3] for r in rows[4:12]] == ["01:00", "01:15", "01:30", "01:45"] * 2
    assert rows[7][4] == "01:00"
    assert rows[-1][3:5] == ["23:45", "00:00"]


async def test_csv_of_generation_and_the_spring_day(
    client: httpx.AsyncClient, data: Builder, esiid: str, rep: dict[str, str]
) -> None:
    await data.intervals(esiid, SPRING, channel=1)
    response = await client.get(
        url(esiid, SPRING, channel="generation"), headers={**rep, "Accept": "text/csv"}
    )
    rows = list(csv.reader(io.StringIO(response.text)))[1:]
    assert len(rows) == 92
    assert {r[7] for r in rows} == {"Surplus Generation"}
    assert rows[7][3:5] == ["01:45", "03:00"]
    # Consumption was not loaded for that day.
    consumption = await client.get(url(esiid, SPRING), headers=rep)
    assert consumption.json()["days"] == []


async def test_green_button_feed(
    client: httpx.AsyncClient, data: Builder, esiid: str, rep: dict[str, str]
) -> None:
    kwh = sample_kwh(FALL)
    kwh[5] = None
    kwh[6] = "1.2345"  # four decimals: 1234.5 Wh needs a multiplier of -1
    statuses = "".join("-" if v is None else "E" if i == 7 else "A" for i, v in enumerate(kwh))
    await data.intervals(esiid, FALL, kwh, statuses)
    response = await client.get(url(esiid, FALL), headers={**rep, "Accept": "application/atom+xml"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/atom+xml")
    root = etree.fromstring(response.content)
    assert root.tag == f"{ATOM}feed"
    assert root.nsmap == {None: "http://www.w3.org/2005/Atom", "espi": "http://naesb.org/espi"}
    contents = [c[0].tag.removeprefix(ESPI) for c in root.iter(f"{ATOM}content")]
    assert contents == [
        "UsagePoint",
        "LocalTimeParameters",
        "MeterReading",
        "ReadingType",
        "IntervalBlock",
    ]
    reading_type = root.find(f".//{ESPI}ReadingType")
    assert reading_type is not None
    assert reading_type.findtext(f"{ESPI}intervalLength") == "900"
    assert reading_type.findtext(f"{ESPI}uom") == "72"
    assert reading_type.findtext(f"{ESPI}powerOfTenMultiplier") == "-1"
    local = root.find(f".//{ESPI}LocalTimeParameters")
    assert local is not None and local.findtext(f"{ESPI}tzOffset") == "-21600"
    block = root.find(f".//{ESPI}IntervalBlock")
    assert block is not None
    start, end = day_bounds(FALL)
    assert block.findtext(f"{ESPI}interval/{ESPI}start") == str(int(start.timestamp()))
    assert block.findtext(f"{ESPI}interval/{ESPI}duration") == str(25 * 3600)
    readings = block.findall(f"{ESPI}IntervalReading")
    assert len(readings) == 99  # 100 intervals, one missing
    starts = [int(r.findtext(f"{ESPI}timePeriod/{ESPI}start") or 0) for r in readings]
    assert starts[0] == int(start.timestamp())
    assert starts[-1] == int(end.timestamp()) - 900
    values = [int(r.findtext(f"{ESPI}value") or -1) for r in readings]
    # Wh in tenths: exact, integers.
    assert values[0] == int(Decimal(kwh[0] or "0") * 10_000)
    assert values[5] == 12_345  # position 6 (position 5 is missing)
    qualities = [r.findtext(f"{ESPI}ReadingQuality/{ESPI}quality") for r in readings]
    assert qualities[6] == "8" and qualities[0] == "0"


async def test_versions_all_shows_the_push_down_stack(
    client: httpx.AsyncClient, data: Builder, esiid: str, rep: dict[str, str]
) -> None:
    estimated = ["0.500"] * 96
    actual = ["0.520"] * 96
    first = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)
    second = datetime(2026, 11, 5, 10, 0, tzinfo=UTC)
    await data.intervals(esiid, PLAIN, estimated, "E" * 96, revision_at=first)
    await data.intervals(esiid, PLAIN, actual, "A" * 96, revision_at=second)
    latest = (await client.get(url(esiid, PLAIN), headers=rep)).json()["days"]
    assert [(d["version"], d["current"]) for d in latest] == [(2, True)]
    assert latest[0]["intervals"][0]["kwh"] == "0.520"
    stack = (await client.get(url(esiid, PLAIN, versions="all"), headers=rep)).json()["days"]
    assert [(d["version"], d["current"]) for d in stack] == [(2, True), (1, False)]
    assert stack[1]["intervals"][0] == {
        "start": "2026-11-02T00:00:00-06:00",
        "end": "2026-11-02T00:15:00-06:00",
        "kwh": "0.500",
        "status": "E",
    }
    assert stack[1]["superseded_at"] == "2026-11-05T04:00:00-06:00"
    assert stack[0]["revision_at"] == "2026-11-05T04:00:00-06:00"
    assert stack[0]["superseded_at"] is None
    as_csv = await client.get(
        url(esiid, PLAIN, versions="all"), headers={**rep, "Accept": "text/csv"}
    )
    rows = list(csv.reader(io.StringIO(as_csv.text)))[1:]
    assert len(rows) == 192
    assert {r[2] for r in rows[:96]} == {"11/05/2026 04:00:00"}
    assert {r[2] for r in rows[96:]} == {"11/03/2026 04:00:00"}
    atom = await client.get(
        url(esiid, PLAIN, versions="all"), headers={**rep, "Accept": "application/atom+xml"}
    )
    assert atom.status_code == 406


async def test_aggregates_equal_the_raw_sums(
    client: httpx.AsyncClient, data: Builder, esiid: str, rep: dict[str, str]
) -> None:
    raw: dict[date, list[str | None]] = {}
    for offset, day in enumerate((date(2026, 10, 30), date(2026, 10, 31), FALL, PLAIN)):
        kwh = sample_kwh(day, seed=offset + 1)
        kwh[10] = None
        statuses = "".join(
            "-" if v is None else "E" if i % 10 == 0 else "A" for i, v in enumerate(kwh)
        )
        raw[day] = kwh
        await data.intervals(esiid, day, kwh, statuses)
    first, last = date(2026, 10, 30), PLAIN

    def total(values: list[str | None]) -> Decimal:
        return sum((Decimal(v) for v in values if v is not None), Decimal(0))

    everything = sum((total(v) for v in raw.values()), Decimal(0))

    hours = (await client.get(url(esiid, first, last, granularity="hour"), headers=rep)).json()
    assert hours["totals"] and "days" not in hours
    assert len(hours["totals"]) == 24 + 24 + 25 + 24
    assert sum(Decimal(t["kwh"]) for t in hours["totals"]) == everything
    assert sum(t["interval_count"] for t in hours["totals"]) == 96 + 96 + 100 + 96
    repeated = [t for t in hours["totals"] if t["start"].startswith("2026-11-01T01:00")]
    assert [t["start"] for t in repeated] == [
        "2026-11-01T01:00:00-05:00",
        "2026-11-01T01:00:00-06:00",
    ]
    assert Decimal(repeated[1]["kwh"]) == total(raw[FALL][8:12])

    days = (await client.get(url(esiid, first, last, granularity="day"), headers=rep)).json()
    by_day = {t["start"][:10]: t for t in days["totals"]}
    assert {d: Decimal(t["kwh"]) for d, t in by_day.items()} == {
        d.isoformat(): total(v) for d, v in raw.items()
    }
    fall = by_day["2026-11-01"]
    assert fall["interval_count"] == 100 and fall["missing_count"] == 1
    assert fall["estimated_count"] == sum(1 for i in range(100) if i % 10 == 0 and i != 10)
    assert (fall["start"], fall["end"]) == (
        "2026-11-01T00:00:00-05:00",
        "2026-11-02T00:00:00-06:00",
    )

    months = (await client.get(url(esiid, first, last, granularity="month"), headers=rep)).json()
    assert [(t["start"], t["end"]) for t in months["totals"]] == [
        ("2026-10-30T00:00:00-05:00", "2026-11-01T00:00:00-05:00"),
        ("2026-11-01T00:00:00-05:00", "2026-11-03T00:00:00-06:00"),
    ]
    assert sum(Decimal(t["kwh"]) for t in months["totals"]) == everything

    as_csv = await client.get(
        url(esiid, first, last, granularity="day"), headers={**rep, "Accept": "text/csv"}
    )
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [Decimal(r["USAGE_KWH"]) for r in rows] == [total(v) for v in raw.values()]

    atom = await client.get(
        url(esiid, first, last, granularity="hour"),
        headers={**rep, "Accept": "application/atom+xml"},
    )
    values = etree.fromstring(atom.content).findall(f".//{ESPI}IntervalReading/{ESPI}value")
    assert len(values) == 24 + 24 + 25 + 24


async def test_read_limits(client: httpx.AsyncClient, esiid: str, rep: dict[str, str]) -> None:
    forty = await client.get(url(esiid, date(2026, 9, 1), date(2026, 10, 10)), headers=rep)
    assert forty.status_code == 200
    too_long = await client.get(url(esiid, date(2026, 9, 1), date(2026, 10, 11)), headers=rep)
    assert too_long.status_code == 422
    assert "POST /v1/reports" in too_long.json()["detail"]
    assert "41 days" in too_long.json()["detail"]
    backwards = await client.get(url(esiid, date(2026, 10, 2), date(2026, 10, 1)), headers=rep)
    assert backwards.status_code == 422
    assert "after" in backwards.json()["detail"]
    bad_date = await client.get(
        f"/v1/esiids/{esiid}/intervals?start=2026-13-01&end=2026-13-01", headers=rep
    )
    assert bad_date.status_code == 422
    bad_id = await client.get(url("not-an-esiid", date(2026, 10, 1)), headers=rep)
    assert bad_id.status_code == 422
    versions_hours = await client.get(
        url(esiid, date(2026, 10, 1), versions="all", granularity="hour"), headers=rep
    )
    assert versions_hours.status_code == 422
    unacceptable = await client.get(
        url(esiid, date(2026, 10, 1)), headers={**rep, "Accept": "text/html"}
    )
    assert unacceptable.status_code == 406


async def test_accept_header_negotiation(
    client: httpx.AsyncClient, data: Builder, esiid: str, rep: dict[str, str]
) -> None:
    await data.intervals(esiid, PLAIN)
    for accept, expected in (
        ("*/*", "application/json"),
        ("text/*", "text/csv"),
        ("application/json;q=0.5, text/csv", "text/csv"),
        ("application/atom+xml, application/json;q=0.9", "application/atom+xml"),
    ):
        response = await client.get(url(esiid, PLAIN), headers={**rep, "Accept": accept})
        assert response.headers["content-type"].startswith(expected), accept
