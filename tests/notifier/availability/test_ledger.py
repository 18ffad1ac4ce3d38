"""The minute ledger during planned maintenance, incident thresholds, self-check, metrics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from meterhub_common.models.notifier import Incident, Notice, OutboxMail, ProbeMinute
from meterhub_notifier.availability.service import LedgerService, ProbeResult
from meterhub_notifier.metrics import SloMetrics
from meterhub_notifier.probes.selfcheck import self_check
from meterhub_notifier.settings import NotifierSettings

from ..conftest import FakeClock

DOWN = ProbeResult(False, 20_000, "HAN GetDevices at https://han.test/soap: ConnectError")
UP = ProbeResult(True, 35)


async def test_failures_inside_a_planned_window_are_maintenance_not_incidents(
    app: FastAPI,
    client: httpx.AsyncClient,
    operator: dict[str, str],
    session: AsyncSession,
    clock: FakeClock,
) -> None:
    planned = {
        "notice_type": "planned_outage",
        "short_description": "HAN gateway upgrade",
        "long_description": "HAN requests are queued during the upgrade.",
        "affected_services": ["HAN"],
        "starts_at": "2024-03-09T02:00:00",
        "ends_at": "2024-03-09T02:10:00",
    }
    assert (await client.post("/v1/notices", json=planned, headers=operator)).status_code == 201
    settings: NotifierSettings = app.state.settings
    ledger = LedgerService(session, settings, clock)
    start = datetime.fromisoformat("2024-03-09T02:00:00-06:00")
    # The upgrade overruns by 5 minutes: 02:00-02:15 the probe fails.
    for offset in range(15):
        clock.set(start + timedelta(minutes=offset, seconds=5))
        await ledger.record("han", clock.now(), DOWN)
        # Another deployment is not in maintenance: FTPS was not announced.
        await ledger.record("ftps-publisher", clock.now(), UP)
    states = (
        (
            await session.execute(
                select(ProbeMinute.state)
                .where(ProbeMinute.service == "han")
                .order_by(ProbeMinute.minute)
            )
        )
        .scalars()
        .all()
    )
    assert states == ["maintenance"] * 10 + ["down"] * 5
    incident = (await session.execute(select(Incident))).scalar_one()
    # Three failed minutes after the window (02:10, 02:11, 02:12) open it at 02:12.
    assert incident.started_at == datetime.fromisoformat("2024-03-09T02:10:00-06:00")
    assert incident.opened_at == datetime.fromisoformat("2024-03-09T02:12:05-06:00")
    notice = (
        await session.execute(select(Notice).where(Notice.notice_type == "unplanned_outage"))
    ).scalar_one()
    assert notice.notice_id == "M-A030924-01"
    assert notice.affected_services == ["HAN"]
    assert notice.additional_information == f"Last probe error: {DOWN.error}"
    # A second replica recording the same minute changes nothing.
    assert await ledger.record("han", clock.now(), UP) is None
    mails = await session.execute(select(OutboxMail).where(OutboxMail.notice_pk == notice.id))
    assert len(mails.scalars().all()) == 3


async def test_gaps_break_a_run_of_failures(
    app: FastAPI, session: AsyncSession, clock: FakeClock
) -> None:
    ledger = LedgerService(session, app.state.settings, clock)
    start = datetime(2024, 3, 12, 20, 0, tzinfo=UTC)
    for minute in (0, 1, 3, 4):  # minute 2 was not observed
        clock.set(start + timedelta(minutes=minute))
        await ledger.record("ingest", clock.now(), DOWN)
    assert (await session.execute(select(Incident))).scalars().first() is None
    clock.set(start + timedelta(minutes=5))
    await ledger.record("ingest", clock.now(), DOWN)
    assert (await session.execute(select(Incident))).scalar_one().started_at == start + timedelta(
        minutes=3
    )


async def test_selfcheck_reports_a_stuck_outbox(
    app: FastAPI, client: httpx.AsyncClient, operator: dict[str, str], clock: FakeClock
) -> None:
    assert (await client.get("/v1/selfcheck")).json() == {"status": "ok"}
    general = {
        "notice_type": "general",
        "short_description": "Contact change",
        "long_description": "The help desk has a new number.",
    }
    await client.post("/v1/notices", json=general, headers=operator)
    assert (await client.get("/v1/selfcheck")).status_code == 200
    clock.advance(minutes=16)  # nobody sent it: the relay or the sender is stuck
    response = await client.get("/v1/selfcheck")
    assert response.status_code == 503
    assert response.json() == {"error": "unhealthy", "detail": "outbox check failed"}
    healthy, detail = await self_check(app.state.database, app.state.settings, clock.now(), None)
    assert not healthy and "waited 16 minutes" in detail


def test_burn_rate_and_error_budget_arithmetic() -> None:
    metrics = SloMetrics(99.0)
    metrics.update(
        {
            "han": {
                "1h": (6, 60),  # 10 % bad over an hour: 10x the sustainable rate
                "5m": (5, 5),
                "30d": (216, 43200),  # half the 432-minute budget spent
            }
        }
    )
    assert round(metrics.burn[("han", "1h")], 6) == 10.0
    assert round(metrics.burn[("han", "5m")], 6) == 100.0
    assert round(metrics.remaining["han"], 6) == 0.5
    assert round(metrics.ratio["han"], 6) == round(1 - 216 / 43200, 6)
    observed = list(metrics._observe_burn(None))  # type: ignore[arg-type]
    assert {o.attributes["window"] for o in observed} == {"1h", "5m", "30d"}  # type: ignore[index]
