"""A real service process stops: after N failed minutes an incident opens and the unplanned
outage notice goes out; recovery closes it with a resolution notice in the same thread.

The probed service is a real uvicorn process of the notifier (its self-check reads the
database and the outbox). The probe loop runs on a fake clock, so the minutes pass at once.
"""

from __future__ import annotations

import email
import email.policy
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from meterhub_common.db import libpq_url
from meterhub_common.models.notifier import Incident, ProbeMinute
from meterhub_devstack.pg import free_port
from meterhub_notifier.metrics import SloMetrics
from meterhub_notifier.outbox.service import OutboxWorker, sender_for
from meterhub_notifier.probes.runner import ProbeRunner
from meterhub_notifier.probes.transactions import NotifierSelfCheckProbe

from ..conftest import FakeClock, SmtpServer

pytestmark = pytest.mark.slow


class ServiceProcess:
    """``python -m uvicorn --factory meterhub_notifier.main:create_app`` on a loopback port."""

    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "meterhub_notifier.main:create_app",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--no-access-log",
            ],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.process.poll() is None, "the service process exited at start"
            try:
                if httpx.get(f"{self.url}/v1/selfcheck", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError("the service process did not become ready in 30 s")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None


@pytest.fixture
def service_process(database_url: str, token_keys: tuple[Path, Path]) -> Iterator[ServiceProcess]:
    env = {
        **os.environ,
        "DATABASE_URL": libpq_url(database_url),
        "MH_TOKEN_PUBLIC_KEY_FILE": str(token_keys[1]),
        "MH_ENVIRONMENT": "test",
        "MH_NOTIFIER_SMTP_HOST": "127.0.0.1",
        "MH_NOTIFIER_FROM_ADDRESS": "notices@meterhub.test",
        "MH_NOTIFIER_LISTSERVS": '{"RMS": ["rms@lists.market.test"]}',
        "MH_NOTIFIER_PROBES_ENABLED": "false",
        "MH_NOTIFIER_WORKERS_ENABLED": "false",
        "MH_NOTIFIER_DATABASE_POOL_SIZE": "1",
    }
    process = ServiceProcess(env)
    process.start()
    yield process
    process.kill()


async def test_stopped_service_opens_incident_and_recovery_resolves_it(
    app: FastAPI,
    clock: FakeClock,
    smtp_server: SmtpServer,
    service_process: ServiceProcess,
    session: AsyncSession,
) -> None:
    settings = app.state.settings.model_copy(
        update={"incident_threshold_minutes": 3, "incident_recovery_minutes": 2}
    )
    async with httpx.AsyncClient(timeout=5) as http:
        probe = NotifierSelfCheckProbe(client=http, base_url=service_process.url)
        metrics = SloMetrics(99.0)
        runner = ProbeRunner(
            [probe], database=app.state.database, settings=settings, clock=clock, metrics=metrics
        )
        worker = OutboxWorker(app.state.database, settings, clock, sender_for(settings))
        # Tuesday 12 March 2024, 3 PM Central (daylight time since Sunday).
        clock.set(datetime.fromisoformat("2024-03-12T15:00:00-05:00"))
        assert (await runner.tick())["notifier"].ok

        service_process.kill()
        for _ in range(2):
            clock.advance(minutes=1)
            result = (await runner.tick())["notifier"]
            assert not result.ok and "ConnectError" in (result.error or "")
        assert (await session.execute(select(Incident))).scalars().first() is None

        clock.advance(minutes=1)  # the third failed minute: 15:03
        await runner.tick()
        incident = (await session.execute(select(Incident))).scalar_one()
        assert incident.started_at == datetime.fromisoformat("2024-03-12T15:01:00-05:00")
        assert incident.opened_at - incident.started_at <= timedelta(minutes=30)
        assert incident.closed_at is None
        # Three of the last four minutes failed: 75 % bad, 75x the sustainable 1 %.
        assert round(metrics.burn[("notifier", "5m")]) == 75
        assert await worker.run_once() == 3  # one per listserv address
        outage = email.message_from_bytes(
            smtp_server.handler.messages[-1].content, policy=email.policy.default
        )
        assert outage["Subject"] == ("M-A031224-01 Unplanned Outage: Meterhub API unavailable")
        text = outage.get_body(("plain",)).get_content().replace("\r\n", "\n")
        assert "NOTICE TYPE: M-A031224-01 Unplanned Outage" in text
        assert (
            "DAY(S) AFFECTED: Tuesday, March 12, 2024, from 3:01 PM CDT until further notice"
            in text
        )
        began = "for 3 consecutive minutes, beginning Tuesday, March 12, 2024, 3:01 PM CDT."
        assert began in text

        clock.advance(minutes=1)  # still down at 15:04: no second notice
        await runner.tick()
        assert await worker.run_once() == 0

        service_process.start()
        clock.advance(minutes=1)  # 15:05 up
        assert (await runner.tick())["notifier"].ok
        await session.refresh(incident)
        assert incident.closed_at is None  # one good minute is not yet a recovery
        clock.advance(minutes=1)  # 15:06 up again: recovered
        await runner.tick()
        await session.refresh(incident)
        assert incident.ended_at == datetime.fromisoformat("2024-03-12T15:05:00-05:00")
        assert incident.closed_at is not None
        assert await worker.run_once() == 3  # one per listserv address
        resolution = email.message_from_bytes(
            smtp_server.handler.messages[-1].content, policy=email.policy.default
        )
        assert resolution["Subject"] == "M-A031224-02 Resolution: Meterhub API restored"
        assert resolution["In-Reply-To"] == outage["Message-ID"]
        body = resolution.get_body(("plain",)).get_content().replace("\r\n", "\n")
        assert "The outage lasted 4 minutes" in body
        assert "3:01 PM CDT to 3:05 PM CDT" in body

    states = (
        (await session.execute(select(ProbeMinute.state).order_by(ProbeMinute.minute)))
        .scalars()
        .all()
    )
    assert states == ["up", "down", "down", "down", "down", "up", "up"]
