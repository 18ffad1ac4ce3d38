"""Builds a report in resumable steps: scope, plan, chunks, files.

1. Scope: mark each requested ESI ID included (the requester may see some day of the range)
   or excluded (listed in the answer, never silently dropped).
2. Plan: cut the request into chunks of about ``report_chunk_esiid_days`` ESI ID-days.
3. Build each chunk into a spool file (COPY ... TO STDOUT for CSV), recording it as done.
   A resumed job skips chunks recorded done whose file is still there, and rebuilds the rest
   (another replica may have taken over without the first one's spool folder).
4. Deliver each file (one CSV; LSE split at 50,000 records) to the FTPS publisher and record
   the answer, so a resumed job never delivers a file twice.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.engine import RowMapping

from meterhub_common.db import Database
from meterhub_common.domain.operating_day import CENTRAL
from meterhub_common.models.usage_api import Role
from meterhub_usage_api.access.service import DataKind, floor_day
from meterhub_usage_api.database import compile_named, driver_connection
from meterhub_usage_api.reports import lse, queries
from meterhub_usage_api.reports import repository as repo
from meterhub_usage_api.reports.delivery import PublisherClient
from meterhub_usage_api.reports.repository import Job
from meterhub_usage_api.usage.render import (
    DAILY_CSV_HEADER,
    INTERVAL_CSV_HEADER,
    MONTHLY_CSV_HEADER,
)

log = logging.getLogger(__name__)

KINDS = {"interval": DataKind.INTERVALS, "daily": DataKind.DAILY, "monthly": DataKind.MONTHLY}
HEADERS = {
    "interval": INTERVAL_CSV_HEADER,
    "daily": DAILY_CSV_HEADER,
    "monthly": MONTHLY_CSV_HEADER,
}
CSV_NAMES = {
    "interval": "IntervalMeterUsage",
    "daily": "DailyMeterUsage",
    "monthly": "MonthlyUsage",
}
# Rows per ESI ID-day, to size chunks alike whatever the report type.
_ROWS_PER_DAY = {"interval": 96.0, "daily": 1.0, "monthly": 1.0 / 30}
_READ_BLOCK = 1 << 20


class LeaseLost(Exception):
    """Another worker took the job over (ours lapsed); stop without touching it."""


@dataclass(frozen=True, slots=True)
class Scope:
    """The access parameters and clipped day range ``[lo, hi)`` the report is built with."""

    role: Role
    params: dict[str, Any]
    lo: date
    hi: date
    floor: date

    @property
    def empty(self) -> bool:
        return self.lo >= self.hi


def scope_for(job: Job, today: date) -> Scope:
    role = Role(job.requester_role)
    floor = floor_day(role, KINDS[job.report_type], today)
    lo = max(job.start_date, floor)
    hi = job.end_date + timedelta(days=1)
    params = {
        "duns": job.requester_duns,
        "entity_id": job.requester_entity_id,
        "today": today,
        "lo": lo,
        "hi": hi,
        "floor": floor,
    }
    return Scope(role, params, lo, hi, floor)


def chunk_bounds(job: Job, esiid_count: int, esiid_days: int) -> list[tuple[int, int]]:
    days = max(1, (job.end_date - job.start_date).days + 1)
    rows_per_esiid = days * _ROWS_PER_DAY[job.report_type]
    if job.file_format == "lse" and job.versions == "all":
        rows_per_esiid *= 4  # room for resent versions within ERCOT's 50,000 per file
    size = max(1, int(esiid_days * _ROWS_PER_DAY["interval"] // max(rows_per_esiid, 1e-9)))
    return [(first, min(first + size, esiid_count)) for first in range(0, esiid_count, size)]


def file_names(job: Job, count: int) -> list[str]:
    stamp = f"{job.created_at.astimezone(CENTRAL):%Y%m%d%H%M%S}"
    short = job.id.hex[:8]
    if job.file_format == "lse":
        # ERCOT's recommended name, <DUNS>IntervalData<ccyymmddhhmmss><counter>, made unique.
        return [
            f"{job.requester_duns}IntervalData{stamp}{n + 1:03d}_{short}.lse" for n in range(count)
        ]
    span = f"{job.start_date:%Y%m%d}-{job.end_date:%Y%m%d}"
    name = f"Adhoc{CSV_NAMES[job.report_type]}_{job.requester_duns}_{span}_{stamp}_{short}.csv"
    return [name]


def pack_files(job: Job, chunks: Sequence[RowMapping]) -> list[tuple[str, list[int], int, int]]:
    """Group built chunks into files: (name, chunk numbers, records, bytes)."""
    with_data = [c for c in chunks if c["record_count"]]
    if not with_data:
        return []
    groups: list[list[RowMapping]] = []
    if job.file_format == "lse":
        for chunk in with_data:
            if (
                groups
                and sum(c["record_count"] for c in groups[-1]) + chunk["record_count"]
                <= lse.MAX_RECORDS_PER_FILE
            ):
                groups[-1].append(chunk)
            else:
                groups.append([chunk])
        header = 0
    else:
        groups = [with_data]
        header = len(HEADERS[job.report_type]) + 2
    names = file_names(job, len(groups))
    return [
        (
            name,
            [c["chunk_no"] for c in group],
            sum(int(c["record_count"]) for c in group),
            header + sum(int(c["byte_count"]) for c in group),
        )
        for name, group in zip(names, groups, strict=True)
    ]


class ReportBuilder:
    def __init__(
        self,
        database: Database,
        publisher: PublisherClient,
        *,
        spool_dir: Path,
        chunk_esiid_days: int,
        parallel_chunks: int,
        today: Callable[[], date],
        sort_memory_mb: int = 192,
    ) -> None:
        self.database = database
        self.publisher = publisher
        self.spool_dir = spool_dir
        self.chunk_esiid_days = chunk_esiid_days
        self.parallel_chunks = parallel_chunks
        self.today = today
        self.sort_memory_mb = sort_memory_mb

    def folder(self, job: Job) -> Path:
        return self.spool_dir / str(job.id)

    def chunk_path(self, job: Job, chunk_no: int) -> Path:
        return self.folder(job) / f"{chunk_no:06d}.part"

    async def run(self, job: Job, lost: Callable[[], bool]) -> int:
        """Build and deliver the report; returns the records delivered."""
        scope = scope_for(job, self.today())
        if not job.scoped:
            await self._scope(job, scope)
        if job.chunk_count is None:
            await self._plan(job)
        async with self.database.sessionmaker() as session:
            chunks = await repo.chunks(session, job.id)
        await asyncio.to_thread(self.folder(job).mkdir, parents=True, exist_ok=True)
        todo = [c for c in chunks if not await self._still_built(job, c)]
        await self._build_all(job, scope, todo, lost)
        if lost():
            raise LeaseLost(str(job.id))
        async with self.database.sessionmaker() as session, session.begin():
            chunks = await repo.chunks(session, job.id)
            planned = pack_files(job, chunks)
            await repo.plan_files(session, job.id, planned)
            known = await repo.files(session, job.id)
        delivered = {f["file_no"] for f in known if f["delivered_at"] is not None}
        for file_no, (name, chunk_nos, records, _) in enumerate(planned):
            if file_no in delivered:
                continue
            if lost():
                raise LeaseLost(str(job.id))
            placed = await self.publisher.deliver(
                job.requester_duns, name, self._body(job, chunk_nos)
            )
            async with self.database.sessionmaker() as session, session.begin():
                await repo.file_delivered(
                    session, job.id, file_no, placed.file_name, placed.key_fingerprint
                )
            log.info(
                "report %s: %s (%d records) placed as %s", job.id, name, records, placed.file_name
            )
        total = sum(p[2] for p in planned)
        async with self.database.sessionmaker() as session, session.begin():
            # Audited with the completion, in one transaction: a resumed job never audits twice.
            included = [] if scope.empty else await repo.included_esiids(session, job.id)
            await repo.audit(
                session,
                queries.audit_sql(scope.role, job.report_type, job.versions == "all"),
                {**scope.params, "esiids": included, "report_id": job.id},
            )
            await repo.complete(session, job.id, total)
        await asyncio.to_thread(shutil.rmtree, self.folder(job), True)
        return total

    async def _build_all(
        self, job: Job, scope: Scope, todo: Sequence[RowMapping], lost: Callable[[], bool]
    ) -> None:
        """Build chunks, ``parallel_chunks`` at a time; the first failure stops the others."""
        pending = list(todo)
        running: set[asyncio.Task[None]] = set()
        try:
            while pending or running:
                while pending and len(running) < self.parallel_chunks:
                    if lost():
                        raise LeaseLost(str(job.id))
                    chunk = pending.pop(0)
                    running.add(asyncio.create_task(self.build_chunk(job, scope, chunk)))
                done, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    task.result()
        finally:
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)

    async def _scope(self, job: Job, scope: Scope) -> None:
        async with self.database.sessionmaker() as session, session.begin():
            esiids = [] if scope.empty else await repo.all_esiids(session, job.id)
            params = {**scope.params, "esiids": esiids, "report_id": job.id}
            included, excluded = await repo.scope(session, queries.scope_sql(scope.role), params)
        log.info("report %s: %d ESI IDs included, %d excluded", job.id, included, excluded)

    async def _plan(self, job: Job) -> None:
        async with self.database.sessionmaker() as session, session.begin():
            count = await repo.esiid_count(session, job.id)
            bounds = chunk_bounds(job, count, self.chunk_esiid_days)
            await repo.plan_chunks(session, job.id, bounds)

    async def _still_built(self, job: Job, chunk: RowMapping) -> bool:
        if chunk["done_at"] is None:
            return False
        path = self.chunk_path(job, chunk["chunk_no"])
        size = await asyncio.to_thread(lambda: path.stat().st_size if path.exists() else -1)
        return bool(size == chunk["byte_count"])

    async def build_chunk(self, job: Job, scope: Scope, chunk: RowMapping) -> None:
        path = self.chunk_path(job, chunk["chunk_no"])
        async with self.database.sessionmaker() as session, session.begin():
            # The chunk's lines are sorted into file order in one sort; keep it in memory.
            await repo.set_sort_memory(session, self.sort_memory_mb)
            if chunk["done_at"] is not None:
                await repo.chunk_undone(session, job.id, chunk["chunk_no"])
            esiids = await repo.chunk_esiids(
                session, job.id, chunk["first_position"], chunk["last_position"]
            )
            records, size = 0, 0
            handle = await asyncio.to_thread(path.open, "wb")
            try:
                if esiids and not scope.empty:
                    params = {**scope.params, "esiids": esiids}
                    if job.file_format == "lse":
                        records, size = await self._lse_chunk(session, job, scope, params, handle)
                    else:
                        records, size = await self._csv_chunk(session, job, scope, params, handle)
            finally:
                await asyncio.to_thread(handle.close)
            await repo.chunk_done(session, job.id, chunk["chunk_no"], records, size)

    async def _csv_chunk(
        self, session: Any, job: Job, scope: Scope, params: dict[str, Any], handle: Any
    ) -> tuple[int, int]:
        all_versions = job.versions == "all"
        sql = {
            "interval": queries.interval_csv_sql,
            "daily": queries.daily_csv_sql,
            "monthly": queries.monthly_csv_sql,
        }[job.report_type](scope.role, all_versions)
        statement = compile_named(sql)
        connection = await driver_connection(session)
        written = 0

        async def sink(data: bytes) -> None:
            nonlocal written
            # RFC 4180 line ends, as the synchronous CSV reads write them; no field can hold
            # a newline (ESI IDs, dates, decimals, labels).
            data = data.replace(b"\n", b"\r\n")
            written += len(data)
            await asyncio.to_thread(handle.write, data)

        status = await connection.copy_from_query(
            statement.sql, *statement.args(params), output=sink, format="csv"
        )
        return int(status.rsplit(" ", 1)[-1]), written

    async def _lse_chunk(
        self, session: Any, job: Job, scope: Scope, params: dict[str, Any], handle: Any
    ) -> tuple[int, int]:
        statement = compile_named(queries.lse_records_sql(scope.role, job.versions == "all"))
        connection = await driver_connection(session)
        rows = await connection.fetch(statement.sql, *statement.args(params))
        data = lse.render_records(rows, job.requester_duns)
        await asyncio.to_thread(handle.write, data)
        return len(rows), len(data)

    async def _body(self, job: Job, chunk_nos: Sequence[int]) -> AsyncIterator[bytes]:
        if job.file_format == "csv":
            yield (HEADERS[job.report_type] + "\r\n").encode()
        for chunk_no in chunk_nos:
            handle = await asyncio.to_thread(self.chunk_path(job, chunk_no).open, "rb")
            try:
                while block := await asyncio.to_thread(handle.read, _READ_BLOCK):
                    yield block
            finally:
                await asyncio.to_thread(handle.close)
