"""Publishing: from usage change events to encrypted files in REP folders.

One run takes the cursor row (``FOR UPDATE SKIP LOCKED``, so one publisher works at a time
whatever the number of replicas), reads the events after it, builds one file per REP,
operating day, kind and original/supplemental, places every file atomically, and only then
records the files, the deliveries and the new cursor in the same transaction. A crash at
any point leaves at most complete files whose names the next run writes again (names are
derived from the events, not from the clock), and hidden temporary files that are removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time as time_module
import uuid
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, TypeVar

import asyncpg

from meterhub_common.domain.operating_day import CENTRAL, intervals
from meterhub_ftps_publisher.keys.service import KeyVault, UsableKey
from meterhub_ftps_publisher.publishing import repository as repo
from meterhub_ftps_publisher.publishing.expand import (
    BuiltFile,
    IntervalFileSpec,
    build_interval_file,
    remove_quietly,
    worker_ready,
    zip_csv_file,
)
from meterhub_ftps_publisher.publishing.folders import RepFolders, usage_file_stem

log = logging.getLogger(__name__)

T = TypeVar("T")

EVENT_KINDS = {"lse": "interval", "register-reads": "daily"}


@dataclass(frozen=True, slots=True)
class Job:
    rep_duns: str
    day: date
    kind: str  # interval | daily
    supplemental: bool
    source: str  # event | sweep
    file_ids: list[uuid.UUID] | None  # None: every current record of the day
    last_event_id: int | None
    stamp: datetime
    received_at: datetime


@dataclass
class RunReport:
    events: int = 0
    jobs: int = 0
    files: list[repo.PublishedRow] = field(default_factory=list)
    reps_without_key: set[str] = field(default_factory=set)

    @property
    def bytes_written(self) -> int:
        return sum(f.size_bytes for f in self.files)


def plan_jobs(events: list[repo.Event]) -> list[Job]:
    """One job per REP, operating day, file kind and original/supplemental."""
    groups: dict[tuple[str, date, str, bool], list[repo.Event]] = defaultdict(list)
    for event in events:
        kind = EVENT_KINDS.get(event.kind)
        if kind is not None:
            groups[(event.rep_duns, event.operating_day, kind, event.supplemental)].append(event)
    jobs = []
    for (duns, day, kind, supplemental), group in sorted(groups.items()):
        jobs.append(
            Job(
                rep_duns=duns,
                day=day,
                kind=kind,
                supplemental=supplemental,
                source="event",
                file_ids=sorted({e.file_id for e in group}),
                last_event_id=max(e.id for e in group),
                stamp=max(e.created_at for e in group).astimezone(UTC),
                received_at=min(e.created_at for e in group),
            )
        )
    return jobs


def delivery_deadline(received_at: datetime, at: time) -> datetime:
    """``at`` (Central) on the day the data arrived; the next day if it arrived later."""
    local = received_at.astimezone(CENTRAL)
    deadline = datetime.combine(local.date(), at, tzinfo=CENTRAL)
    if local >= deadline:
        deadline = datetime.combine(local.date() + timedelta(days=1), at, tzinfo=CENTRAL)
    return deadline.astimezone(UTC)


class Publisher:
    def __init__(
        self,
        pool: asyncpg.Pool,
        dsn: str,
        folders: RepFolders,
        vault: KeyVault,
        *,
        executor: Executor | None,
        workers: int,
        batch_events: int,
        late_event_lookback_hours: int,
        sweep_lookback_days: int,
        deadline: time,
    ) -> None:
        self.pool = pool
        self.dsn = dsn  # worker processes stream interval records on their own connections
        self.folders = folders
        self.vault = vault
        self.executor = executor
        self.workers = max(1, workers)
        self.batch_events = batch_events
        self.late_event_lookback_hours = late_event_lookback_hours
        self.sweep_lookback_days = sweep_lookback_days
        self.deadline = deadline
        # Called with the temporary path right before a file is renamed into place; tests
        # use it to crash a publication half-way.
        self.before_rename: Callable[[Path], None] | None = None

    async def _in_worker(self, fn: Callable[..., T], *args: Any) -> T:
        if self.executor is None:
            return await asyncio.to_thread(fn, *args)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, functools.partial(fn, *args))

    async def warm_up(self) -> None:
        """Start every worker process now (the pool spawns them lazily, one per busy
        submission), so the first files do not pay for interpreter start and imports."""
        if self.executor is None:
            return
        await asyncio.gather(*(self._in_worker(worker_ready, 0.2) for _ in range(self.workers)))

    # -- runs --------------------------------------------------------------------------------

    async def run_once(self) -> RunReport | None:
        """Publish the next batch of events; None when another publisher holds the cursor."""
        async with self.pool.acquire() as conn, conn.transaction():
            cursor = await repo.lock_cursor(conn)
            if cursor is None:
                return None
            events = await repo.pending_events(
                conn, cursor, self.batch_events, self.late_event_lookback_hours
            )
            report = RunReport(events=len(events))
            if not events:
                return report
            jobs = plan_jobs(events)
            await self._publish(conn, jobs, report)
            await repo.mark_handled(conn, [e.id for e in events])
            await repo.advance_cursor(conn, max(e.id for e in events))
        log.info(
            "published %d files (%d bytes) for %d events",
            len(report.files),
            report.bytes_written,
            report.events,
        )
        return report

    async def run_until_idle(self) -> RunReport:
        total = RunReport()
        while True:
            report = await self.run_once()
            if report is None or report.events == 0:
                return total
            total.events += report.events
            total.jobs += report.jobs
            total.files.extend(report.files)
            total.reps_without_key |= report.reps_without_key

    async def sweep(self, today: date, now: datetime | None = None) -> RunReport | None:
        """Publish every (REP, day, kind) of the last days that has data but no file yet:
        days whose events were lost, REPs who had no key then, late service history."""
        now = now or datetime.now(UTC)
        async with self.pool.acquire() as conn, conn.transaction():
            if await repo.lock_cursor(conn) is None:
                return None
            jobs = []
            for back in range(self.sweep_lookback_days, 0, -1):
                day = today - timedelta(days=back)
                for kind in ("interval", "daily"):
                    have = await repo.days_published(conn, day, kind)
                    for duns in await repo.reps_with_data(conn, day, kind):
                        if duns not in have:
                            jobs.append(Job(duns, day, kind, False, "sweep", None, None, now, now))
            report = RunReport()
            await self._publish(conn, jobs, report)
        if jobs:
            log.info("nightly sweep published %d missed files", len(report.files))
        return report

    # -- one batch of jobs -------------------------------------------------------------------

    async def _publish(self, conn: asyncpg.Connection, jobs: list[Job], report: RunReport) -> None:
        report.jobs += len(jobs)
        keys: dict[str, UsableKey | None] = {}
        for duns in sorted({j.rep_duns for j in jobs}):
            row = await repo.active_key(conn, duns)
            keys[duns] = UsableKey(row["fingerprint"], row["armored"]) if row else None
        # Only the build holds a worker: the next file starts while this one is fsynced.
        builders = asyncio.Semaphore(self.workers)

        async def run(job: Job) -> repo.PublishedRow | None:
            key = keys[job.rep_duns]
            if key is None:
                report.reps_without_key.add(job.rep_duns)
                return None
            return await self.build_and_place(job, key, builders)

        tasks = [asyncio.create_task(run(job)) for job in jobs]
        try:
            results = await asyncio.gather(*tasks)
        except BaseException:
            # One failed build fails the run (the cursor stays): stop the others too, so no
            # file is placed after the transaction that would have recorded it is gone.
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        placed = [r for r in results if r is not None]
        await repo.record_files(conn, placed)
        report.files.extend(placed)
        for duns in sorted(report.reps_without_key):
            log.warning("REP %s has no usable public key: its files wait for the sweep", duns)
        per_day: dict[tuple[str, date], list[tuple[Job, repo.PublishedRow | None]]] = defaultdict(
            list
        )
        for job, result in zip(jobs, results, strict=True):
            per_day[(job.rep_duns, job.day)].append((job, result))
        for (duns, day), items in sorted(per_day.items()):
            received = min(job.received_at for job, _ in items)
            files = [r for _, r in items if r is not None]
            if not files and keys[duns] is not None:
                # Nothing of this REP's in the data (not REP of record that day): no delivery
                # was due, so none is recorded as missed.
                continue
            delivered = max((r.placed_at for r in files), default=None)
            await repo.record_delivery(
                conn,
                duns,
                day,
                received,
                delivery_deadline(received, self.deadline),
                delivered,
                len(files),
            )

    async def build_and_place(
        self, job: Job, key: UsableKey, builders: asyncio.Semaphore | None = None
    ) -> repo.PublishedRow | None:
        """Build one file (holding one of ``builders``, if given); None when the REP has no
        records for it (not REP of record)."""
        seq = job.last_event_id or 0
        stem = usage_file_stem(job.kind, job.supplemental, job.rep_duns, job.day, job.stamp, seq)
        final_name = f"{stem}.zip.asc"
        final = self.folders.folder(job.rep_duns) / final_name
        tmp = self.folders.temp_path(job.rep_duns, final_name)
        try:
            async with builders or contextlib.nullcontext():
                started = time_module.perf_counter()
                built = await (
                    self._build_interval(job, key, stem, tmp)
                    if job.kind == "interval"
                    else self._build_daily(job, key, stem, tmp)
                )
            if built.records == 0:
                return None
            built_at = time_module.perf_counter()
            await asyncio.to_thread(self.folders.place, tmp, final, self.before_rename)
            size = final.stat().st_size
            log.info(
                "placed %s: %d lines, %d MB of CSV; build %.2fs, place %.2fs",
                final_name,
                built.rows,
                built.csv_bytes >> 20,
                built_at - started,
                time_module.perf_counter() - built_at,
            )
        finally:
            await asyncio.to_thread(remove_quietly, tmp)
        return repo.PublishedRow(
            rep_duns=job.rep_duns,
            file_name=final_name,
            kind=job.kind,
            source=job.source,
            operating_day=job.day,
            supplemental=job.supplemental,
            record_count=built.rows,
            esiid_count=built.esiids,
            size_bytes=size,
            key_fingerprint=key.fingerprint,
            last_event_id=job.last_event_id,
            placed_at=datetime.now(UTC),
        )

    async def _build_interval(self, job: Job, key: UsableKey, stem: str, tmp: Path) -> BuiltFile:
        # One pipeline in a worker process: COPY -> CSV lines -> zip -> gpg -> tmp.
        home = await self.vault.prepare(key)
        spec = IntervalFileSpec(
            dsn=self.dsn,
            rep_duns=job.rep_duns,
            day=job.day,
            file_ids=job.file_ids,
            usage_date=f"{job.day:%m/%d/%Y}",
            interval_times=[(iv.start.strftime("%H:%M"), iv.label) for iv in intervals(job.day)],
            entry_name=f"{stem}.csv",
            gnupg_home=str(home),
            recipient=key.fingerprint,
            output=str(tmp),
        )
        return await self._in_worker(build_interval_file, spec)

    async def _build_daily(self, job: Job, key: UsableKey, stem: str, tmp: Path) -> BuiltFile:
        # One row per meter: small, formatted by PostgreSQL, zipped and encrypted via files.
        records = self.folders.work_path(".csv")
        zipped = self.folders.work_path(".zip")
        try:
            async with self.pool.acquire() as conn:
                await repo.copy_daily_reads(conn, job.rep_duns, job.day, job.file_ids, records)
            built = await self._in_worker(zip_csv_file, str(records), str(zipped), f"{stem}.csv")
            if built.records:
                await self.vault.encrypt_file(zipped, tmp, key)
            return built
        finally:
            await asyncio.to_thread(remove_quietly, records, zipped)
