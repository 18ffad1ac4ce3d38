"""Ad-hoc reports: the API, the worker's steps, exclusions, formats and crash-resume.

The FTPS publisher is a recording stand-in here; test_report_e2e.py runs the real one.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import date
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from meterhub_usage_api.reports.delivery import DeliveryError
from meterhub_usage_api.reports.worker import ReportWorker
from meterhub_usage_api.usage.render import INTERVAL_CSV_HEADER
from tests.usage_api.agreements.conftest import random_duns
from tests.usage_api.conftest import Builder, bearer, sample_kwh
from tests.usage_api.reports.conftest import RecordingPublisher

FALL_BACK = date(2026, 11, 1)
NEXT_DAY = date(2026, 11, 2)


class Setup:
    """Two ESI IDs the REP serves, one served by another REP, one unknown, one the REP left
    before the range; a second version of a day and a generation channel."""

    async def build(self, data: Builder, make_token: Any) -> Setup:
        self.duns = random_duns()
        self.rep = await data.entity("rep", self.duns)
        self.token = make_token("rep", self.duns, entity_id=self.rep, client_id="rep-reports")
        self.mine = [await data.esiid(), await data.esiid()]
        self.other = await data.esiid()
        self.left = await data.esiid()
        self.unknown = "10443720000999999"
        for esiid in self.mine:
            await data.service(esiid, self.duns, date(2026, 1, 1))
        await data.service(self.other, random_duns(), date(2026, 1, 1))
        await data.service(self.left, self.duns, date(2025, 1, 1), date(2026, 10, 1))
        for esiid in [*self.mine, self.other, self.left]:
            await data.days(esiid, FALL_BACK, NEXT_DAY)
        # A corrected second version of the next day, and rooftop solar on the first ESI ID.
        await data.intervals(self.mine[0], NEXT_DAY, sample_kwh(NEXT_DAY, seed=7))
        await data.intervals(self.mine[0], FALL_BACK, sample_kwh(FALL_BACK, seed=3), channel=1)
        for esiid in self.mine:
            await data.daily(esiid, FALL_BACK)
            await data.monthly(esiid, date(2026, 9, 3), date(2026, 10, 2))
        self.requested = [self.mine[0], self.other, self.unknown, self.mine[1], self.left]
        return self


@pytest.fixture
async def setup(data: Builder, make_token: Any) -> Setup:
    return await Setup().build(data, make_token)


@pytest.fixture
def publisher() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture
def report_app(app_factory: Any, publisher: RecordingPublisher, tmp_path: Any) -> FastAPI:
    # One chunk at a time and no lease renewals: the app shares the test's connection.
    app = app_factory(
        report_spool_dir=tmp_path / "spool",
        report_parallel_chunks=1,
        report_lease_seconds=3600,
        report_retry_seconds=0,
    )
    app.state.report_worker.builder.publisher = publisher
    return app


def client_for(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://usage.test")


async def order(app: FastAPI, token: str, **body: Any) -> httpx.Response:
    payload = {"type": "interval", "start": "2026-11-01", "end": "2026-11-02", **body}
    async with client_for(app) as client:
        return await client.post("/v1/reports", json=payload, headers=bearer(token))


async def status(app: FastAPI, token: str, report_id: str) -> dict[str, Any]:
    async with client_for(app) as client:
        answer = await client.get(f"/v1/reports/{report_id}", headers=bearer(token))
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


async def test_interval_report_lists_exclusions_and_matches_the_synchronous_csv(
    report_app: FastAPI,
    setup: Setup,
    publisher: RecordingPublisher,
    connection: AsyncConnection,
) -> None:
    ordered = await order(report_app, setup.token, esiids=[*setup.requested, setup.mine[0]])
    assert ordered.status_code == 202, ordered.text
    report_id = ordered.json()["id"]
    assert ordered.headers["location"] == f"/v1/reports/{report_id}"
    assert ordered.json()["status"] == "queued"
    assert ordered.json()["counts"]["requested"] == 5  # the duplicate counted once

    assert await report_app.state.report_worker.run_once()
    shown = await status(report_app, setup.token, report_id)
    assert shown["status"] == "completed", shown
    assert shown["excluded_esiids"] == [setup.other, setup.unknown, setup.left]
    assert shown["counts"]["included"] == 2 and shown["counts"]["excluded"] == 3

    [(duns, name, _)] = publisher.delivered
    assert duns == setup.duns
    assert name.startswith(f"AdhocIntervalMeterUsage_{setup.duns}_20261101-20261102_")
    assert shown["files"][0]["file_name"] == f"{name}.zip.asc"
    lines = publisher.lines()
    assert lines[0] == INTERVAL_CSV_HEADER
    first = [line for line in lines[1:] if line.startswith(f"{setup.mine[0]},11/01/2026")]
    consumption = [line for line in first if line.endswith(",Consumption")]
    generation = [line for line in first if line.endswith(",Surplus Generation")]
    # The fall-back day: 100 rows, the 01:00 hour twice, the last ending 00:00.
    assert len(consumption) == len(generation) == 100
    times = [tuple(line.split(",")[3:5]) for line in consumption]
    assert times[4] == times[8] == ("01:00", "01:15")
    assert times[-1] == ("23:45", "00:00")
    assert not any(setup.other in line or setup.left in line for line in lines)
    # Rows: 100 + 96 consumption and 100 generation for the first, 100 + 96 for the second.
    assert len(lines) - 1 == shown["counts"]["records"] == 296 + 196

    # The report is in the read audit: one entry per requested ESI ID, records as reads count.
    audited = await connection.execute(
        text(
            "SELECT esiid, status_code, row_count, endpoint FROM read_audit"
            " WHERE request_id = :r ORDER BY esiid"
        ),
        {"r": f"report {report_id}"},
    )
    assert sorted((a.esiid, a.status_code, a.row_count) for a in audited) == sorted(
        [
            (setup.mine[0], 200, 3),
            (setup.mine[1], 200, 2),
            (setup.other, 404, 0),
            (setup.unknown, 404, 0),
            (setup.left, 404, 0),
        ]
    )

    # The same day through the synchronous read gives the same lines.
    async with client_for(report_app) as client:
        sync = await client.get(
            f"/v1/esiids/{setup.mine[0]}/intervals?start=2026-11-01&end=2026-11-01",
            headers=bearer(setup.token, Accept="text/csv"),
        )
    assert sync.text.split("\r\n")[1:-1] == consumption


async def test_all_versions_and_lse_layout(
    report_app: FastAPI, setup: Setup, publisher: RecordingPublisher
) -> None:
    ordered = await order(report_app, setup.token, esiids=setup.mine, versions="all", format="lse")
    assert ordered.status_code == 202, ordered.text
    assert await report_app.state.report_worker.run_once()
    shown = await status(report_app, setup.token, ordered.json()["id"])
    assert shown["status"] == "completed", shown
    # Records: mine[0] 2 + 1 (second version) + 1 (generation); mine[1] 2.
    assert shown["counts"]["records"] == 6
    [(_, name, _)] = publisher.delivered
    assert name.startswith(f"{setup.duns}IntervalData") and name.endswith(".lse")
    lines = publisher.lines()
    headers = [line for line in lines if line.startswith("00000001,")]
    assert headers[0] == f"00000001,{setup.mine[0]},4,20261101000000,20261101235900,Y,N"
    assert len(headers) == 6
    first_record = lines[: lines.index(headers[1])]
    assert len([line for line in first_record if line.startswith("1000")]) == 25
    assert f"Receiver={setup.duns}" in first_record[4]
    assert first_record[5].startswith("10000000,0.000,A,,")


async def test_daily_and_monthly_reports(
    report_app: FastAPI, setup: Setup, publisher: RecordingPublisher
) -> None:
    daily = await order(report_app, setup.token, type="daily", esiids=setup.requested)
    monthly = await order(
        report_app,
        setup.token,
        type="monthly",
        esiids=setup.requested,
        start="2026-09-01",
        end="2026-10-31",
    )
    assert await report_app.state.report_worker.run_once()
    assert await report_app.state.report_worker.run_once()
    for ordered in (daily, monthly):
        shown = await status(report_app, setup.token, ordered.json()["id"])
        assert shown["status"] == "completed"
        assert shown["counts"]["records"] == 2
    by_name = {
        name.split("_")[0]: data.decode().split("\r\n") for _, name, data in publisher.delivered
    }
    daily_lines = by_name["AdhocDailyMeterUsage"]
    assert daily_lines[1] == (
        f"{setup.mine[0]},11/01/2026,11/01/2026 18:00:00,M1,10000.0000,10021.7500,21.7500"
    )
    monthly_lines = by_name["AdhocMonthlyUsage"]
    assert monthly_lines[0].startswith("ESIID,METER_NUMBER,START_DATE")
    assert monthly_lines[2].startswith(f"{setup.mine[1]},M1,09/03/2026,10/02/2026,")


async def test_requests_the_api_refuses(
    report_app: FastAPI, setup: Setup, make_token: Any, data: Builder
) -> None:
    too_many = [f"1044372{n:010d}" for n in range(50_001)]
    answer = await order(report_app, setup.token, esiids=too_many)
    assert answer.status_code == 422
    assert "at most 50,000" in answer.json()["detail"]
    assert (await order(report_app, setup.token, esiids=too_many[:50_000])).status_code == 202

    lse_daily = await order(report_app, setup.token, type="daily", format="lse", esiids=["1"])
    assert lse_daily.status_code == 422
    backwards = await order(report_app, setup.token, esiids=["1"], start="2026-11-03")
    assert backwards.status_code == 422
    csp_duns = random_duns()
    csp = make_token("csp", csp_duns, entity_id=await data.entity("csp", csp_duns))
    assert (await order(report_app, csp, esiids=["1"], versions="all")).status_code == 403
    customer = make_token("customer", entity_id=await data.customer("reports-customer"))
    assert (await order(report_app, customer, esiids=["1"])).status_code == 403

    mine = await order(report_app, setup.token, esiids=["1"])
    other_rep = make_token("rep", random_duns())
    async with client_for(report_app) as client:
        peek = await client.get(f"/v1/reports/{mine.json()['id']}", headers=bearer(other_rep))
    assert peek.status_code == 404


class FlakyBuilds:
    """Wraps build_chunk: records every chunk built, can fail or hang on one chunk."""

    def __init__(self, worker: ReportWorker) -> None:
        self.real = worker.builder.build_chunk
        self.built: list[int] = []
        self.fail_on: int | None = None
        self.hang_on: int | None = None
        self.hanging = asyncio.Event()
        worker.builder.build_chunk = self  # type: ignore[method-assign]

    async def __call__(self, job: Any, scope: Any, chunk: Any) -> None:
        number = chunk["chunk_no"]
        if number == self.fail_on:
            self.fail_on = None
            raise OSError("injected: disk full")
        if number == self.hang_on:
            self.hanging.set()
            await asyncio.Event().wait()  # until the "crash" cancels us
        self.built.append(number)
        await self.real(job, scope, chunk)


async def test_injected_failure_requeues_and_the_rerun_resumes(
    app_factory: Any, setup: Setup, publisher: RecordingPublisher, tmp_path: Any
) -> None:
    app = app_factory(
        report_spool_dir=tmp_path / "spool",
        report_parallel_chunks=1,
        report_lease_seconds=3600,
        report_retry_seconds=0,
        report_chunk_esiid_days=2,  # one ESI ID (2 days) per chunk: five chunks
    )
    worker: ReportWorker = app.state.report_worker
    worker.builder.publisher = publisher  # type: ignore[assignment]
    builds = FlakyBuilds(worker)
    builds.fail_on = 3
    report_id = (await order(app, setup.token, esiids=setup.requested)).json()["id"]

    assert await worker.run_once()
    shown = await status(app, setup.token, report_id)
    assert shown["status"] == "queued"
    assert "disk full" in shown["last_error"]
    assert shown["counts"]["chunks_done"] == 3
    assert publisher.delivered == []

    assert await worker.run_once()
    shown = await status(app, setup.token, report_id)
    assert shown["status"] == "completed"
    assert shown["attempts"] == 2
    assert builds.built == [0, 1, 2, 3, 4]  # chunks 0-2 were not built again
    assert shown["counts"]["records"] == 296 + 196
    assert len(publisher.lines()) - 1 == 296 + 196


async def test_killed_worker_lease_lapses_and_another_resumes(
    app_factory: Any,
    setup: Setup,
    publisher: RecordingPublisher,
    tmp_path: Any,
    connection: AsyncConnection,
) -> None:
    app = app_factory(
        report_spool_dir=tmp_path / "spool",
        report_parallel_chunks=1,
        report_lease_seconds=3600,
        report_chunk_esiid_days=2,
    )
    worker: ReportWorker = app.state.report_worker
    worker.builder.publisher = publisher  # type: ignore[assignment]
    builds = FlakyBuilds(worker)
    builds.hang_on = 3
    report_id = (await order(app, setup.token, esiids=setup.requested)).json()["id"]

    running = asyncio.create_task(worker.run_once())
    await asyncio.wait_for(builds.hanging.wait(), 10)
    running.cancel()  # the process dies mid-report
    with pytest.raises(asyncio.CancelledError):
        await running
    shown = await status(app, setup.token, report_id)
    assert shown["status"] == "running"
    assert shown["counts"]["chunks_done"] == 3

    # Another replica finds nothing while the dead worker's lease runs ...
    successor = app_factory(
        report_spool_dir=tmp_path / "spool",
        report_parallel_chunks=1,
        report_lease_seconds=3600,
        report_chunk_esiid_days=2,
    )
    other: ReportWorker = successor.state.report_worker
    other.builder.publisher = publisher  # type: ignore[assignment]
    builds_after = FlakyBuilds(other)
    assert not await other.run_once()
    # ... and takes the job over once it lapses, resuming after the recorded chunks.
    await connection.execute(
        text("UPDATE report_requests SET lease_until = now() - interval '1 second' WHERE id=:id"),
        {"id": uuid.UUID(report_id)},
    )
    assert await other.run_once()
    shown = await status(successor, setup.token, report_id)
    assert shown["status"] == "completed"
    assert shown["attempts"] == 2
    assert builds_after.built == [3, 4]
    assert len(publisher.lines()) - 1 == 296 + 196


async def test_publisher_refusal_fails_the_report_with_its_reason(
    report_app: FastAPI, setup: Setup, publisher: RecordingPublisher
) -> None:
    publisher.refuse = DeliveryError(
        "FTPS publisher answered 409: REP has no active, unexpired public PGP key",
        permanent=True,
    )
    report_id = (await order(report_app, setup.token, esiids=setup.mine)).json()["id"]
    assert await report_app.state.report_worker.run_once()
    shown = await status(report_app, setup.token, report_id)
    assert shown["status"] == "failed"
    assert "PGP key" in shown["last_error"]
    assert shown["finished_at"] is not None


async def test_finished_reports_are_purged_after_the_retention(
    report_app: FastAPI, setup: Setup, connection: AsyncConnection
) -> None:
    report_id = (await order(report_app, setup.token, esiids=setup.requested)).json()["id"]
    worker: ReportWorker = report_app.state.report_worker
    assert await worker.run_once()
    assert await worker.purge() == 0
    await connection.execute(
        text("UPDATE report_requests SET finished_at = now() - interval '31 days' WHERE id=:id"),
        {"id": uuid.UUID(report_id)},
    )
    assert await worker.purge() == 1
    left = await connection.execute(
        text(
            "SELECT (SELECT count(*) FROM report_esiids WHERE report_id = :id),"
            " (SELECT count(*) FROM read_audit WHERE request_id = :r)"
        ),
        {"id": uuid.UUID(report_id), "r": f"report {report_id}"},
    )
    # The ESI ID list goes; who received what stays in the read audit.
    assert tuple(left.one()) == (0, 5)
