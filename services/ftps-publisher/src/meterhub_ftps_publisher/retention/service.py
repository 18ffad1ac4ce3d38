"""Retention: files leave the REP folders after ``retention_days``; every log row stays.

The folders are the truth for what a REP can fetch, so the purge scans them (by modification
time, the moment a file was placed) rather than trusting the database alone: a file placed by
a run that crashed before recording it is purged all the same. Rows of the delivery log get
``purged_at``; the handled-event marks older than the late-event window are dropped.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from meterhub_ftps_publisher.publishing.folders import RepFolders

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PurgeReport:
    files_removed: int
    bytes_removed: int
    rows_marked: int


def _remove_old_files(folders: RepFolders, cutoff: float) -> list[tuple[str, str, int]]:
    removed: list[tuple[str, str, int]] = []
    if not folders.root.exists():
        return removed
    for rep_dir in folders.root.iterdir():
        if rep_dir.name.startswith(".") or not rep_dir.is_dir():
            continue
        for entry in os.scandir(rep_dir):
            info = entry.stat(follow_symlinks=False)
            if entry.name.startswith(".") or not stat.S_ISREG(info.st_mode):
                continue
            if info.st_mtime < cutoff:
                os.unlink(entry.path)
                removed.append((rep_dir.name, entry.name, info.st_size))
    return removed


async def purge(
    pool: asyncpg.Pool,
    folders: RepFolders,
    retention_days: int,
    *,
    now: datetime | None = None,
    handled_keep_hours: int = 24 * 30,
) -> PurgeReport:
    now = now or datetime.now(UTC)
    cutoff = now - timedelta(days=retention_days)
    removed = await asyncio.to_thread(_remove_old_files, folders, cutoff.timestamp())
    stale = await asyncio.to_thread(folders.remove_stale_parts, 6 * 3600)
    async with pool.acquire() as conn, conn.transaction():
        marked = 0
        if removed:
            result = await conn.execute(
                "UPDATE ftps_published_files p SET purged_at = $3 FROM unnest($1::text[], "
                "$2::text[]) AS r(rep_duns, file_name) WHERE p.rep_duns = r.rep_duns "
                "AND p.file_name = r.file_name AND p.purged_at IS NULL",
                [r[0] for r in removed],
                [r[1] for r in removed],
                now,
            )
            marked = int(result.split()[-1])
        # Files already gone by other means (a REP deleted them) are no longer live either.
        result = await conn.execute(
            "UPDATE ftps_published_files SET purged_at = $2 "
            "WHERE purged_at IS NULL AND placed_at < $1",
            cutoff,
            now,
        )
        marked += int(result.split()[-1])
        await conn.execute(
            "DELETE FROM ftps_handled_events WHERE handled_at < $1",
            now - timedelta(hours=handled_keep_hours),
        )
    if removed or stale:
        log.info(
            "retention removed %d files (%d bytes) and %d stale temporary files",
            len(removed),
            sum(r[2] for r in removed),
            stale,
        )
    return PurgeReport(len(removed), sum(r[2] for r in removed), marked)


async def retention_loop(
    pool: asyncpg.Pool, folders: RepFolders, retention_days: int, every_seconds: float
) -> None:
    while True:
        try:
            await purge(pool, folders, retention_days)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("retention purge failed; it runs again later")
        await asyncio.sleep(every_seconds)
