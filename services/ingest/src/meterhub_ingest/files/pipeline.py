"""Processing one stored file, from the durable queue in ``tdsp_files`` to committed rows.

The queue: a file is claimable while its status is ``received``, or ``processing`` with no
live worker on it (its worker died, or its last attempt failed). :func:`claim_next` takes one
with ``FOR UPDATE SKIP LOCKED`` and marks it ``processing`` in a short transaction of its
own (attempts + 1, started_at), so the status and the attempt count survive a crash.
:func:`load_file` then does all the work in ONE transaction that first re-locks the file's
row (``SKIP LOCKED`` again: a second worker that claimed the same file meanwhile gets nothing):

    stored blob -> temp file -> gpg -> unzip -> parse (streaming) -> COPY to staging
    -> set-based classification and writes -> activity report -> counts and status
    -> usage_change_events -> NOTIFY usage_changed -> commit

A crash anywhere before the commit leaves nothing behind but the ``processing`` mark, and the
file is claimed again after ``retry_delay_seconds`` x attempts; it ends loaded exactly once. A
file-level fault (F1, F2, F10..F15) discards the load transaction and records the file as
``rejected`` with its code, in a transaction of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

import asyncpg

from meterhub_common.domain import today_central
from meterhub_common.models.ingest import FileKind, FileStatus
from meterhub_common.pgp import Keyring
from meterhub_ingest.files import unpack
from meterhub_ingest.files.lse_loader import ConcurrentUpdate, load_lse
from meterhub_ingest.files.report import (
    INTERNAL_FAILURE,
    FileRejected,
    LoadSummary,
    copy_results,
)
from meterhub_ingest.lse.parser import LseFileError
from meterhub_ingest.telemetry import IngestMetrics

log = logging.getLogger(__name__)

# The loaders of the CSV kinds, imported on first use: each module has
# ``async def load(conn, *, file_id, sender_duns, lines, now) -> LoadSummary``.
CSV_LOADERS: dict[str, str] = {
    FileKind.METER_SYNC.value: "meterhub_ingest.csvfiles.meter_sync",
    FileKind.REGISTER_READS.value: "meterhub_ingest.csvfiles.register_reads",
    FileKind.MONTHLY_USAGE.value: "meterhub_ingest.csvfiles.monthly_usage",
}
_TRANSIENT = (
    asyncpg.UniqueViolationError,
    asyncpg.DeadlockDetectedError,
    asyncpg.SerializationError,
    asyncpg.LockNotAvailableError,
    ConcurrentUpdate,
)
_IN_PROCESS_RETRIES = 3


class CsvLoader(Protocol):
    async def __call__(
        self,
        conn: asyncpg.Connection,
        *,
        file_id: uuid.UUID,
        sender_duns: str,
        lines: Iterator[str],
        now: datetime,
    ) -> LoadSummary: ...


def csv_loader(kind: str) -> CsvLoader:
    """The loader of a CSV kind; ImportError while that module is not deployed."""
    module: ModuleType = importlib.import_module(CSV_LOADERS[kind])
    loader: CsvLoader = module.load
    return loader


def kind_supported(kind: str) -> bool:
    if kind == FileKind.LSE.value:
        return True
    try:
        csv_loader(kind)
    except ImportError:
        return False
    return True


EnsurePartitions = Callable[[date, date], Awaitable[None]]


async def ensure_partitions_on(conn: asyncpg.Connection, first: date, last: date) -> None:
    await conn.execute(
        "SELECT meterhub_ensure_month_partitions('interval_reads', $1, $2)", first, last
    )


@dataclass
class LoadContext:
    """What loading needs besides the connection: keys, limits and hooks."""

    keyring: Keyring | None
    passphrase: str | None = None
    expected_signers: dict[str, str] = field(default_factory=dict)
    max_records: int = 50_000
    max_unzipped_bytes: int = 1024 * 1024 * 1024
    max_attempts: int = 5
    retry_delay_seconds: float = 2.0
    work_dir: Path | None = None
    pause_before_commit: float = 0.0
    # Month partitions are created by DDL that must not run inside the load transaction in
    # production (it would lock interval_reads for every other worker until this commit);
    # workers pass a function that uses a second connection. None: the load's own connection
    # (tests, whose single connection is one rolled-back transaction).
    ensure_partitions: EnsurePartitions | None = None
    metrics: IngestMetrics | None = None
    today: Callable[[], date] = today_central


@dataclass(frozen=True)
class Outcome:
    file_id: uuid.UUID
    kind: str
    status: str
    summary: LoadSummary | None
    error_code: str | None = None
    error_message: str | None = None
    counts: dict[str, int] = field(default_factory=dict)


# -- the queue ------------------------------------------------------------------------------------


async def claim_next(conn: asyncpg.Connection, ctx: LoadContext) -> uuid.UUID | None:
    """Take the oldest claimable file and mark it processing; None when there is none.

    Files that used up their attempts are closed as rejected (E1) on the way.
    """
    while True:
        async with conn.transaction():
            row = await conn.fetchrow(
                """
                WITH next AS (
                    SELECT id FROM tdsp_files
                    WHERE status IN ('received', 'processing')
                      AND (status = 'received'
                           OR started_at IS NULL
                           OR started_at < clock_timestamp()
                                           - make_interval(secs => $1 * attempts))
                    ORDER BY received_at
                    LIMIT 1
                    FOR UPDATE SKIP LOCKED
                )
                UPDATE tdsp_files f
                   SET status = 'processing', attempts = f.attempts + 1,
                       started_at = clock_timestamp()
                  FROM next WHERE f.id = next.id
                RETURNING f.id, f.attempts, f.kind
                """,
                ctx.retry_delay_seconds,
            )
            if row is None:
                return None
            if row["attempts"] <= ctx.max_attempts:
                return uuid.UUID(str(row["id"]))
            await _finish_rejected(
                conn,
                row["id"],
                INTERNAL_FAILURE,
                f"processing failed {ctx.max_attempts} times; the operators have the details",
            )
            log.error(
                "file %s given up after %d attempts",
                row["id"],
                ctx.max_attempts,
                extra={"file_id": str(row["id"])},
            )


async def mark_processing(conn: asyncpg.Connection, file_id: uuid.UUID) -> bool:
    """Mark one given file processing (what claim_next does, for a known id)."""
    async with conn.transaction():
        done: str = await conn.execute(
            """
            UPDATE tdsp_files SET status = 'processing', attempts = attempts + 1,
                   started_at = clock_timestamp()
             WHERE id = $1 AND status IN ('received', 'processing')
            """,
            file_id,
        )
    return done != "UPDATE 0"


# -- one file ----------------------------------------------------------------------------------


async def process_file(
    conn: asyncpg.Connection, file_id: uuid.UUID, ctx: LoadContext
) -> Outcome | None:
    """Mark a file processing and load it (tests and tools; workers use claim_next)."""
    if not await mark_processing(conn, file_id):
        return None
    return await load_file(conn, file_id, ctx)


async def process_pending(conn: asyncpg.Connection, ctx: LoadContext) -> list[Outcome]:
    """Load every claimable file, oldest first."""
    outcomes: list[Outcome] = []
    while (file_id := await claim_next(conn, ctx)) is not None:
        outcome = await load_file(conn, file_id, ctx)
        if outcome is not None:
            outcomes.append(outcome)
    return outcomes


async def load_file(
    conn: asyncpg.Connection, file_id: uuid.UUID, ctx: LoadContext
) -> Outcome | None:
    """Load a claimed file; None if another worker holds it or it is already finished.

    Transient conflicts with concurrent loads are retried here; any other error propagates
    with nothing written (the file stays claimable for a later attempt).
    """
    for attempt in range(1, _IN_PROCESS_RETRIES + 1):
        try:
            return await _load_once(conn, file_id, ctx)
        except _TRANSIENT as exc:
            if attempt == _IN_PROCESS_RETRIES:
                raise
            log.info(
                "file %s: concurrent load conflict (%s), retrying", file_id, type(exc).__name__
            )
            await asyncio.sleep(0.05 * attempt)
    return None  # pragma: no cover - the loop returns or raises


@dataclass
class _Claimed:
    id: uuid.UUID
    kind: str
    sender_duns: str
    filename: str | None
    encrypted: bool
    received_at: datetime


async def _lock(conn: asyncpg.Connection, file_id: uuid.UUID) -> _Claimed | None:
    row = await conn.fetchrow(
        """
        SELECT id, kind, sender_duns, filename, encrypted, received_at
          FROM tdsp_files
         WHERE id = $1 AND status IN ('received', 'processing')
           FOR UPDATE SKIP LOCKED
        """,
        file_id,
    )
    return _Claimed(**dict(row)) if row is not None else None


async def _load_once(
    conn: asyncpg.Connection, file_id: uuid.UUID, ctx: LoadContext
) -> Outcome | None:
    rejection: FileRejected | None = None
    outcome: Outcome | None = None
    claimed: _Claimed | None = None
    with _workspace(ctx) as workspace:
        try:
            async with conn.transaction():
                claimed = await _lock(conn, file_id)
                if claimed is None:
                    return None
                now: datetime = await conn.fetchval("SELECT clock_timestamp()")
                async with _opened_lines(conn, claimed, ctx, workspace) as lines:
                    summary, counts, timings = await _dispatch(
                        conn, claimed, lines, now, ctx, workspace
                    )
                status = _status_of(summary)
                finished = await conn.fetchval(
                    """
                    UPDATE tdsp_files
                       SET status = $2, records_total = $3, records_loaded = $4,
                           records_rejected = $5, records_unchanged = $6,
                           error_code = NULL, error_message = NULL,
                           finished_at = clock_timestamp()
                     WHERE id = $1
                    RETURNING finished_at
                    """,
                    file_id,
                    status,
                    summary.total,
                    summary.loaded,
                    summary.rejected,
                    summary.unchanged,
                )
                if summary.loaded:
                    await conn.execute("SELECT pg_notify('usage_changed', $1)", str(file_id))
                if ctx.pause_before_commit:
                    log.warning(
                        "file %s: pausing %.1f s before commit (test setting)",
                        file_id,
                        ctx.pause_before_commit,
                    )
                    await asyncio.sleep(ctx.pause_before_commit)
            outcome = Outcome(file_id, claimed.kind, status, summary, counts=counts)
            _record_metrics(ctx, claimed, outcome, finished)
            log.info(
                "file %s %s: %d records, %d loaded, %d rejected, %d unchanged",
                file_id,
                status,
                summary.total,
                summary.loaded,
                summary.rejected,
                summary.unchanged,
                extra={"file_id": str(file_id), "kind": claimed.kind, "timings": timings},
            )
            return outcome
        except (LseFileError, FileRejected) as exc:
            code = exc.code.value if isinstance(exc, LseFileError) else exc.code
            rejection = FileRejected(str(code), exc.message, exc.line)
    assert claimed is not None and rejection is not None
    async with conn.transaction():
        if await _lock(conn, file_id) is None:
            return None
        await copy_results(
            conn,
            file_id,
            [(rejection.line or 0, rejection.code, rejection.message, None, None, None)],
        )
        await _finish_rejected(conn, file_id, rejection.code, rejection.message)
    outcome = Outcome(
        file_id,
        claimed.kind,
        FileStatus.REJECTED.value,
        None,
        error_code=rejection.code,
        error_message=rejection.message,
        counts={rejection.code: 1},
    )
    if ctx.metrics is not None:
        ctx.metrics.records(claimed.kind, {rejection.code: 1})
    log.info(
        "file %s rejected: %s %s",
        file_id,
        rejection.code,
        rejection.message,
        extra={"file_id": str(file_id), "kind": claimed.kind},
    )
    return outcome


async def _finish_rejected(
    conn: asyncpg.Connection, file_id: uuid.UUID, code: str, message: str
) -> None:
    await conn.execute(
        """
        UPDATE tdsp_files
           SET status = 'rejected', error_code = $2, error_message = $3,
               records_total = NULL, records_loaded = 0, records_rejected = NULL,
               records_unchanged = 0, finished_at = clock_timestamp()
         WHERE id = $1
        """,
        file_id,
        code,
        message,
    )


def _status_of(summary: LoadSummary) -> str:
    if summary.rejected == 0:
        return FileStatus.LOADED.value
    if summary.loaded + summary.unchanged == 0:
        return FileStatus.REJECTED.value
    return FileStatus.PARTIALLY_LOADED.value


def _record_metrics(
    ctx: LoadContext, claimed: _Claimed, outcome: Outcome, finished: datetime
) -> None:
    if ctx.metrics is None:
        return
    ctx.metrics.records(claimed.kind, outcome.counts)
    ctx.metrics.time_to_market(claimed.kind, (finished - claimed.received_at).total_seconds())


async def _dispatch(
    conn: asyncpg.Connection,
    claimed: _Claimed,
    lines: Iterator[str],
    now: datetime,
    ctx: LoadContext,
    workspace: Path,
) -> tuple[LoadSummary, dict[str, int], dict[str, object]]:
    if claimed.kind == FileKind.LSE.value:

        async def partitions(first: date, last: date) -> None:
            if ctx.ensure_partitions is not None:
                await ctx.ensure_partitions(first, last)
            else:
                await ensure_partitions_on(conn, first, last)

        loaded = await load_lse(
            conn,
            file_id=claimed.id,
            sender_duns=claimed.sender_duns,
            lines=lines,
            now=now,
            today=ctx.today(),
            source=claimed.filename or f"file {claimed.id}",
            max_records=ctx.max_records,
            ensure_partitions=partitions,
            spool_dir=workspace,
        )
        return loaded.summary, loaded.counts, {"fast_path": loaded.fast_path, **loaded.timings}
    summary = await csv_loader(claimed.kind)(
        conn, file_id=claimed.id, sender_duns=claimed.sender_duns, lines=lines, now=now
    )
    counts: dict[str, int] = {
        str(row["code"]): int(row["n"])
        for row in await conn.fetch(
            "SELECT code, count(*) AS n FROM tdsp_file_results WHERE file_id = $1 GROUP BY code",
            claimed.id,
        )
    }
    return summary, counts, {}


@contextlib.contextmanager
def _workspace(ctx: LoadContext) -> Iterator[Path]:
    # mkdtemp makes the directory 0700: decrypted data never sits where others can read it.
    with tempfile.TemporaryDirectory(prefix="mh-ingest-", dir=ctx.work_dir) as folder:
        yield Path(folder)


@contextlib.asynccontextmanager
async def _opened_lines(
    conn: asyncpg.Connection, claimed: _Claimed, ctx: LoadContext, workspace: Path
) -> AsyncIterator[Iterator[str]]:
    stored = workspace / "stored"
    await unpack.fetch_blob(conn, claimed.id, stored)
    if claimed.encrypted:
        if ctx.keyring is None:
            raise RuntimeError("no repository keyring is configured to decrypt files")
        opened = workspace / "decrypted"
        await unpack.decrypt(
            ctx.keyring,
            stored,
            opened,
            passphrase=ctx.passphrase,
            expected_signer=ctx.expected_signers.get(claimed.sender_duns),
        )
        stored.unlink()
        lines = unpack.zip_member_lines(opened, max_unzipped_bytes=ctx.max_unzipped_bytes)
    else:
        with stored.open("rb") as head:
            looks = unpack.detect_format(head.read(64))
        if looks == "zip":
            lines = unpack.zip_member_lines(stored, max_unzipped_bytes=ctx.max_unzipped_bytes)
        else:
            lines = unpack.plain_lines(stored)
    try:
        yield lines
    finally:
        close: Any = getattr(lines, "close", None)
        if close is not None:
            close()
