"""The monthly report on fixture data with known answers: JSON, CSV and the PNG chart.

The fixture month is March 2024 (spring-forward on the 10th: 44,580 minutes). Every figure
asserted below is worked out by hand in the comments.
"""

from __future__ import annotations

import csv
import io
import json
import struct
import uuid
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from meterhub_common.domain.operating_day import CENTRAL, intervals_in_day
from meterhub_common.models.ftps_publisher import PublishedFile
from meterhub_common.models.ingest import EsiId, IntervalRead, TdspFile, UsageChangeEvent
from meterhub_common.models.notifier import Incident, MaintenanceWindow, NoticeThread
from meterhub_notifier.probes.tokens import TokenSource
from meterhub_notifier.reports.peers import HanDevicesClient, normalize_han_report

from ..conftest import FakeClock

TDSP_A, TDSP_B = "957877905", "957877906"
REP_1, REP_2 = "111111111", "222222222"

# An answer of the HAN service's GET /v1/reports/devices, in its DeviceReport shape
# (services/han/.../reports/schemas.py), recorded rather than served by a live HAN service.
RECORDED_HAN_REPORT = {
    "as_of": "2024-04-01T00:00:00-05:00",
    "total_devices": 45,
    "slot_taking_devices": 44,
    "by_status": [
        {"status": "Device Added", "takes_slot": True, "count": 41},
        {"status": "Add Pending", "takes_slot": True, "count": 3},
        {"status": "Add Failed", "takes_slot": False, "count": 1},
    ],
    "by_tdsp": [
        {
            "tdsp_duns": TDSP_A,
            "tdsp_name": "North Texas Wires",
            "total": 30,
            "by_status": {"Device Added": 28, "Add Pending": 2, "Add Failed": 0},
        },
        {
            "tdsp_duns": TDSP_B,
            "tdsp_name": None,
            "total": 15,
            "by_status": {"Device Added": 13, "Add Pending": 1, "Add Failed": 1},
        },
    ],
}


def central(*args: int) -> datetime:
    return datetime(*args, tzinfo=CENTRAL).astimezone(UTC)  # type: ignore[misc]


async def ledger(
    session: AsyncSession,
    service: str,
    start: datetime,
    end: datetime,
    failing: list[tuple[datetime, datetime]],
    windows: list[tuple[datetime, datetime]],
) -> None:
    bad = " OR ".join(f"(m >= :fs{i} AND m < :fe{i})" for i in range(len(failing))) or "false"
    planned = " OR ".join(f"(m >= :ws{i} AND m < :we{i})" for i in range(len(windows))) or "false"
    params: dict[str, object] = {"service": service, "start": start, "end": end}
    for i, (a, b) in enumerate(failing):
        params |= {f"fs{i}": a, f"fe{i}": b}
    for i, (a, b) in enumerate(windows):
        params |= {f"ws{i}": a, f"we{i}": b}
    await session.execute(
        text(
            f"""
            INSERT INTO probe_minutes (service, minute, state, probe_ok, latency_ms)
            SELECT :service, m,
                   CASE WHEN {planned} THEN 'maintenance' WHEN {bad} THEN 'down' ELSE 'up' END,
                   NOT ({bad}), 12
            FROM generate_series(
                CAST(:start AS timestamptz), CAST(:end AS timestamptz) - interval '1 minute',
                interval '1 minute'
            ) AS m
            """
        ),
        params,
    )


def statuses(day: date, estimated: int = 0, missing: int = 0) -> str:
    count = intervals_in_day(day)
    estimated = min(estimated, count)
    return "E" * estimated + "-" * missing + "A" * (count - estimated - missing)


async def fixture_month(session: AsyncSession) -> None:
    # --- availability: HAN probed all month, the notifier from 20 March ---------------------
    thread = NoticeThread(
        id=uuid.uuid4(), code="M-A031124", audience_code="M", first_date=date(2024, 3, 11),
        letter="A", kind="planned_outage", status="open", last_sequence=1,
    )  # fmt: skip
    session.add(thread)
    await session.flush()
    window = (central(2024, 3, 16, 2), central(2024, 3, 16, 6))  # 240 minutes, CDT
    session.add(
        MaintenanceWindow(
            thread_id=thread.id, services=["HAN"], starts_at=window[0], ends_at=window[1]
        )
    )
    outage = (central(2024, 3, 12, 15), central(2024, 3, 12, 16, 30))  # 90 minutes
    overlapping = (central(2024, 3, 16, 5), central(2024, 3, 16, 7))  # 60 in the window
    start, end = central(2024, 3, 1), central(2024, 4, 1)
    await ledger(session, "han", start, end, [outage, overlapping], [window])
    await ledger(session, "notifier", central(2024, 3, 20), end, [], [])
    opened, closed = outage[0] + timedelta(minutes=3), outage[1] + timedelta(minutes=2)
    session.add(
        Incident(
            service="han",
            started_at=outage[0],
            ended_at=outage[1],
            opened_at=opened,
            closed_at=closed,
        )
    )

    # --- time to market: three loaded LSE files in March, and three that do not count -------
    def tdsp_file(
        received: datetime, seconds: int, status: str = "loaded", kind: str = "lse"
    ) -> TdspFile:
        return TdspFile(
            id=uuid.uuid4(), sender_duns=TDSP_A, kind=kind, sha256=uuid.uuid4().hex * 2,
            size_bytes=1000, encrypted=True, status=status, received_at=received,
            finished_at=received + timedelta(seconds=seconds),
        )  # fmt: skip

    f1 = tdsp_file(central(2024, 3, 5, 6), 120)
    f2 = tdsp_file(central(2024, 3, 12, 7), 600)
    f3 = tdsp_file(central(2024, 3, 20, 5), 60)
    session.add_all([
        f1, f2, f3,
        tdsp_file(central(2024, 2, 29, 23, 59), 30),  # February
        tdsp_file(central(2024, 3, 7, 6), 5, status="rejected"),
        tdsp_file(central(2024, 3, 7, 6), 5, kind="meter-sync"),
    ])  # fmt: skip
    await session.flush()

    def event(f: TdspFile, rep: str, day: date) -> UsageChangeEvent:
        return UsageChangeEvent(
            file_id=f.id, rep_duns=rep, operating_day=day, kind="lse", supplemental=False,
            esiid_count=1, created_at=f.finished_at,
        )  # fmt: skip

    e1, e2 = event(f1, REP_1, date(2024, 3, 4)), event(f1, REP_2, date(2024, 3, 4))
    e3, e4 = event(f2, REP_1, date(2024, 3, 11)), event(f3, REP_2, date(2024, 3, 19))
    session.add_all([e1, e2, e3, e4])
    await session.flush()

    def placed(rep: str, day: date, last_event: int, at: datetime) -> PublishedFile:
        return PublishedFile(
            rep_duns=rep, file_name=f"IntervalMeterUsage{uuid.uuid4().hex}.asc", kind="interval",
            source="event", operating_day=day, record_count=1, esiid_count=1, size_bytes=10,
            key_fingerprint="F" * 40, last_event_id=last_event, placed_at=at,
        )  # fmt: skip

    session.add_all([
        placed(REP_1, date(2024, 3, 4), e1.id, f1.received_at + timedelta(seconds=180)),
        placed(REP_2, date(2024, 3, 4), e2.id, f1.received_at + timedelta(seconds=270)),
        placed(REP_1, date(2024, 3, 11), e3.id, f2.received_at + timedelta(seconds=900)),
        # An older file of REP 2's 19 March predates f3's event: f3 is not in the folder yet.
        placed(REP_2, date(2024, 3, 19), e1.id, f1.received_at),
    ])  # fmt: skip

    # --- data quality -----------------------------------------------------------------------
    await session.execute(
        text("SELECT meterhub_ensure_month_partitions('interval_reads'::regclass, :a, :b)"),
        {"a": date(2024, 3, 1), "b": date(2024, 4, 30)},
    )
    session.add_all([
        EsiId(esiid="10443720000000001", tdsp_duns=TDSP_A),
        EsiId(esiid="10443720000000002", tdsp_duns=TDSP_A),
        EsiId(esiid="1008901000000000000003", tdsp_duns=TDSP_B),
    ])  # fmt: skip

    def read(esiid: str, day: date, status_text: str, *, channel: int = 4, version: int = 1,
             current: bool = True) -> IntervalRead:  # fmt: skip
        at = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
        return IntervalRead(
            esiid=esiid, channel=channel, operating_day=day, version=version, is_current=current,
            interval_count=len(status_text), kwh="{" + ",".join(["0.25"] * len(status_text)) + "}",
            statuses=status_text, record_created_at=at, revision_at=at, source_file_id=f1.id,
            transaction_id=uuid.uuid4().hex,
        )  # fmt: skip

    march = [date(2024, 3, d) for d in range(1, 32)]
    reads = []
    for day in march:  # esiid 1: every day, 2 estimated on the DST day
        reads.append(read("10443720000000001", day, statuses(day, 2 if day.day == 10 else 0)))
    reads.append(read("10443720000000001", date(2024, 3, 5), statuses(date(2024, 3, 5)), channel=1))
    reads.append(read("10443720000000001", date(2024, 3, 2), "E" * 96, version=0, current=False))
    for day in march[:29]:  # esiid 2: 30 and 31 March missing; 3 March 4 E and 2 blank
        reads.append(
            read("10443720000000002", day, statuses(day, *((4, 2) if day.day == 3 else (0, 0))))
        )
    for day in march[:30]:  # esiid 3: 31 March missing; 1-10 March all estimated
        reads.append(read("1008901000000000000003", day, statuses(day, 96 if day.day <= 10 else 0)))
    reads.append(read("1008901000000000000003", date(2024, 4, 1), statuses(date(2024, 4, 1), 96)))
    session.add_all(reads)
    await session.flush()


def han_client() -> HanDevicesClient:
    seen: list[httpx.Request] = []

    def respond(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/v1/token":
            assert b"client_id=meterhub-service" in request.content
            return httpx.Response(200, json={"access_token": "service-token", "expires_in": 900})
        assert request.headers["authorization"] == "Bearer service-token"
        # A past month is counted as it stood at its end (midnight, Central).
        assert request.url.params["as_of"] == "2024-04-01T05:00:00+00:00"
        return httpx.Response(200, json=RECORDED_HAN_REPORT)

    http = httpx.AsyncClient(transport=httpx.MockTransport(respond))
    clock = FakeClock(datetime(2024, 4, 2, tzinfo=UTC))
    tokens = TokenSource(http, "https://usage.test/v1/token", "meterhub-service", "s3cret", clock)
    return HanDevicesClient(http, "https://han.test/v1/reports/devices", tokens)


@pytest.fixture
async def report_app(app: FastAPI, session: AsyncSession, clock: FakeClock) -> FastAPI:
    await fixture_month(session)
    clock.set(central(2024, 4, 2, 9))
    app.state.han_devices = han_client()
    return app


async def test_monthly_report_json(
    report_app: FastAPI, client: httpx.AsyncClient, rep: dict[str, str]
) -> None:
    response = await client.get("/v1/reports/monthly?month=2024-03", headers=rep)
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["month"] == "2024-03"

    services = {s["service"]: s for s in report["availability"]["services"]}
    han = services["han"]
    # 44,580 minutes; 240 planned; down 90 (Tuesday) + 60 (after the window) = 150.
    assert (han["total_minutes"], han["maintenance_minutes"], han["measured_minutes"]) == (
        44580, 240, 44340,
    )  # fmt: skip
    assert (han["down_minutes"], han["up_minutes"], han["unobserved_minutes"]) == (150, 44190, 0)
    assert han["availability_percent"] == round(100 * 44190 / 44340, 4) == 99.6617
    assert han["objective_met"] is True
    assert han["error_budget_minutes"] == 443.4
    assert han["error_budget_remaining_minutes"] == 293.4
    notifier = services["notifier"]
    assert notifier["period_start"] == "2024-03-20T00:00:00-05:00"
    assert (notifier["total_minutes"], notifier["availability_percent"]) == (12 * 1440, 100.0)
    markets = {s["service"]: s for s in report["availability"]["market_services"]}
    assert markets["HAN"]["availability_percent"] == 99.6617
    assert markets["API"]["total_minutes"] == 12 * 1440  # measured by the notifier from the 20th
    assert "FTPS" not in markets  # nothing measured it

    ttm = report["time_to_market"]
    assert ttm["files"] == 3
    assert ttm["to_api"]["count"] == 3
    assert ttm["to_api"]["median_seconds"] == 120.0
    assert ttm["to_api"]["worst_seconds"] == 600.0
    assert ttm["to_ftps"]["count"] == 2
    assert ttm["to_ftps"]["median_seconds"] == 585.0  # median of 270 and 900
    assert ttm["to_ftps"]["worst_seconds"] == 900.0
    assert ttm["to_ftps"]["files_not_yet_in_every_folder"] == 1
    assert ttm["to_ftps"]["worst_file_id"] == ttm["to_api"]["worst_file_id"]

    quality = report["data_quality"]
    assert quality["days_counted"] == 31
    by_tdsp = {t["tdsp_duns"]: t for t in quality["by_tdsp"]}
    a, b = by_tdsp[TDSP_A], by_tdsp[TDSP_B]
    # A: esiid 1 has 30x96 + 92 consumption intervals plus a 96-interval generation day, 2 E;
    # esiid 2 has 28x96 + 92 with 4 E and 2 blank.
    assert (a["estimated_intervals"], a["actual_intervals"], a["missing_intervals"]) == (6, 5840, 2)
    assert (a["expected_esiid_days"], a["esiid_days_present"], a["missing_esiid_days"]) == (
        62,
        60,
        2,
    )
    assert a["estimated_share_percent"] == round(100 * 6 / 5846, 4)
    # B: 29x96 + 92 intervals over 30 days, the first ten (9x96 + 92 on the DST day) estimated.
    assert (b["estimated_intervals"], b["actual_intervals"]) == (956, 1920)
    assert (b["missing_esiid_days"], b["estimated_share_percent"]) == (1, 33.2406)
    assert (quality["estimated_intervals"], quality["missing_esiid_days"]) == (962, 3)
    assert quality["estimated_share_percent"] == round(100 * 962 / 8722, 4)

    devices = report["han_devices"]
    assert devices["available"] is True
    assert devices["by_status"][0] == {"key": "Device Added", "count": 41}
    assert devices["total_devices"] == 45
    assert devices["by_territory"][0] == {
        "key": TDSP_A,
        "name": "North Texas Wires",
        "count": 30,
        "by_status": {"Device Added": 28, "Add Pending": 2, "Add Failed": 0},
    }
    assert devices["by_territory"][1]["count"] == 15
    assert report["incidents"] == [
        {
            "service": "han",
            "started_at": "2024-03-12T15:00:00-05:00",
            "ended_at": "2024-03-12T16:30:00-05:00",
            "minutes": 90,
        }
    ]
    daily = {d["date"]: d for d in report["daily"]}
    assert len(daily) == 31
    assert daily["2024-03-12"]["availability_percent"]["han"] == round(100 * 1350 / 1440, 4)
    assert daily["2024-03-16"]["availability_percent"]["han"] == 95.0  # 1140 / 1200
    assert daily["2024-03-10"]["availability_percent"]["han"] == 100.0
    assert daily["2024-03-05"]["time_to_api_median_seconds"] == 120.0
    assert daily["2024-03-05"]["time_to_ftps_median_seconds"] == 270.0
    assert daily["2024-03-19"]["availability_percent"]["notifier"] is None


async def test_availability_endpoint_has_days_in_central_time(
    report_app: FastAPI, client: httpx.AsyncClient, rep: dict[str, str]
) -> None:
    body = (await client.get("/v1/availability?month=2024-03", headers=rep)).json()
    han = next(s for s in body["services"] if s["service"] == "han")
    days = {d["date"]: d for d in han["days"]}
    assert days["2024-03-10"]["total_minutes"] == 1380
    assert days["2024-03-16"]["maintenance_minutes"] == 240
    assert sum(d["down_minutes"] for d in han["days"]) == 150
    assert (await client.get("/v1/availability?month=2024-13", headers=rep)).status_code == 400
    incidents = (await client.get("/v1/incidents?month=2024-03", headers=rep)).json()
    assert [(i["service"], i["minutes"]) for i in incidents] == [("han", 90)]


async def test_monthly_report_csv(
    report_app: FastAPI, client: httpx.AsyncClient, rep: dict[str, str]
) -> None:
    response = await client.get(
        "/v1/reports/monthly?month=2024-03", headers={**rep, "Accept": "text/csv"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert list(rows[0]) == ["section", "subject", "date", "metric", "value"]
    index = {(r["section"], r["subject"], r["date"], r["metric"]): r["value"] for r in rows}
    assert index[("availability", "han", "2024-03", "availability_percent")] == "99.6617"
    assert index[("availability", "han", "2024-03", "maintenance_minutes")] == "240"
    assert index[("time_to_market", "to_ftps", "2024-03", "median_seconds")] == "585.0"
    assert index[("data_quality", TDSP_B, "2024-03", "missing_esiid_days")] == "1"
    assert index[("han_devices", "Add Pending", "2024-03", "devices_by_status")] == "3"
    assert index[("han_devices", TDSP_B, "2024-03", "devices_by_territory")] == "15"
    key = ("han_devices", f"{TDSP_B}/Add Failed", "2024-03", "devices_by_territory_and_status")
    assert index[key] == "1"
    assert index[("daily_availability", "han", "2024-03-16", "availability_percent")] == "95.0"
    assert index[("incident", "han", "2024-03-12T15:00:00-05:00", "minutes")] == "90"


async def test_monthly_report_png(
    report_app: FastAPI, client: httpx.AsyncClient, rep: dict[str, str]
) -> None:
    response = await client.get("/v1/reports/monthly.png?month=2024-03", headers=rep)
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    png = response.content
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert png[12:16] == b"IHDR"
    width, height = struct.unpack(">II", png[16:24])
    assert (width, height) == (1100, 750)
    assert 20_000 < len(png) < 1_000_000


async def test_han_report_client_against_recorded_and_bad_answers() -> None:
    assert normalize_han_report({"by_status": {"Device Added": 2}, "by_tdsp": {TDSP_A: 2}}) == {
        "by_status": [{"key": "Device Added", "count": 2}],
        "by_territory": [{"key": TDSP_A, "count": 2}],
        "total_devices": None,
        "as_of": None,
    }
    devices = await han_client().devices(as_of=datetime(2024, 4, 1, 5, tzinfo=UTC))
    assert (
        devices["available"] is True and devices["source"] == "https://han.test/v1/reports/devices"
    )
    assert json.dumps(devices)  # JSON-safe

    def broken(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/token":
            return httpx.Response(200, json={"access_token": "t", "expires_in": 900})
        return httpx.Response(200, json={"by_status": "many"})

    http = httpx.AsyncClient(transport=httpx.MockTransport(broken))
    tokens = TokenSource(http, "https://u.test/v1/token", "c", "s", FakeClock(datetime.now(UTC)))
    result = await HanDevicesClient(http, "https://han.test/r", tokens).devices()
    assert result["available"] is False and "expected a list" in result["reason"]
    unconfigured = await HanDevicesClient(http, None, None).devices()
    assert unconfigured["available"] is False
