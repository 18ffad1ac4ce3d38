"""Worker processes that load files from the queue.

The API process starts ``MH_INGEST_WORKERS`` of them in its lifespan (multiprocessing, spawn
context), restarts any that dies, and stops them on shutdown. Each runs its own asyncio loop
with its own PostgreSQL connections: one for loading, one LISTENing on ``ingest_files``, and
one for the short DDL that creates month partitions. Parsing is CPU-bound, so processes (not
threads) are what let files load in parallel.

Standalone (e.g. a separate Kubernetes deployment, or after a crash in a test)::

    python -m meterhub_ingest.files.worker

reads the same environment as the service and runs one worker until SIGTERM or SIGINT.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import multiprocessing.process
import signal
import threading
from datetime import date
from typing import Any

import asyncpg

from meterhub_common.db import libpq_url
from meterhub_common.logs import configure_logging
from meterhub_common.telemetry import setup_telemetry
from meterhub_ingest.files.keys import open_repository_key
from meterhub_ingest.files.pipeline import LoadContext, claim_next, ensure_partitions_on, load_file
from meterhub_ingest.settings import IngestSettings
from meterhub_ingest.telemetry import IngestMetrics

log = logging.getLogger(__name__)

_CONNECTION_ERRORS = (
    OSError,
    ConnectionError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
)


class Worker:
    """One loading loop: claim a file, load it, repeat; sleep until NOTIFY or the poll."""

    def __init__(self, settings: IngestSettings, ctx: LoadContext, name: str = "worker") -> None:
        self.settings = settings
        self.ctx = ctx
        self.name = name
        self.url = libpq_url(settings.database_url)
        self._conn: asyncpg.Connection | None = None
        self._listener: asyncpg.Connection | None = None
        self._ddl: asyncpg.Connection | None = None
        self._wake = asyncio.Event()
        self.ctx.ensure_partitions = self._ensure_partitions

    async def _connect(self, role: str = "") -> asyncpg.Connection:
        return await asyncpg.connect(
            self.url, server_settings={"application_name": f"meterhub-{self.name}{role}"}
        )

    async def _ensure_partitions(self, first: date, last: date) -> None:
        # Its own connection and transaction: the DDL commits at once and never waits on the
        # load transaction, which has not touched interval_reads yet at this point.
        if self._ddl is None or self._ddl.is_closed():
            self._ddl = await self._connect("-ddl")
            await self._ddl.execute("SET lock_timeout = '60s'")
        await ensure_partitions_on(self._ddl, first, last)

    def _notified(self, *_: Any) -> None:
        self._wake.set()

    async def _ensure_connected(self) -> asyncpg.Connection:
        if self._conn is None or self._conn.is_closed():
            self._conn = await self._connect()
        if self._listener is None or self._listener.is_closed():
            self._listener = await self._connect("-listen")
            await self._listener.add_listener("ingest_files", self._notified)
        return self._conn

    async def close(self) -> None:
        for conn in (self._conn, self._listener, self._ddl):
            if conn is not None and not conn.is_closed():
                with contextlib.suppress(Exception):
                    await conn.close(timeout=5)
        self._conn = self._listener = self._ddl = None

    async def drain(self, stop: asyncio.Event) -> int:
        """Load files until none is claimable (or stop is set); returns how many were handled."""
        conn = await self._ensure_connected()
        handled = 0
        while not stop.is_set():
            self._wake.clear()
            file_id = await claim_next(conn, self.ctx)
            if file_id is None:
                break
            try:
                await load_file(conn, file_id, self.ctx)
            except _CONNECTION_ERRORS:
                raise
            except Exception:
                # The file stays claimable and is retried after a delay (at most max_attempts).
                log.exception("%s: loading file %s failed", self.name, file_id)
                if conn.is_closed():
                    raise
            handled += 1
        return handled

    async def run(self, stop: asyncio.Event) -> None:
        log.info("%s started", self.name)
        try:
            while not stop.is_set():
                try:
                    await self.drain(stop)
                except _CONNECTION_ERRORS as exc:
                    log.warning("%s: database connection lost (%s); reconnecting", self.name, exc)
                    await self.close()
                    await _wait_any(stop, None, 2.0)
                    continue
                await _wait_any(stop, self._wake, self.settings.poll_seconds)
        finally:
            await self.close()
            log.info("%s stopped", self.name)


async def _wait_any(stop: asyncio.Event, wake: asyncio.Event | None, seconds: float) -> None:
    waiters = [asyncio.ensure_future(stop.wait())]
    if wake is not None:
        waiters.append(asyncio.ensure_future(wake.wait()))
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


def load_context(settings: IngestSettings, metrics: IngestMetrics | None) -> LoadContext:
    key = open_repository_key(settings)
    passphrase = settings.pgp_passphrase.get_secret_value() if settings.pgp_passphrase else None
    return LoadContext(
        keyring=key.keyring,
        passphrase=passphrase,
        expected_signers=dict(settings.expected_signers),
        max_records=settings.max_records,
        max_unzipped_bytes=settings.max_unzipped_bytes,
        max_attempts=settings.max_attempts,
        retry_delay_seconds=settings.retry_delay_seconds,
        work_dir=settings.work_dir,
        pause_before_commit=settings.effective_pause_before_commit,
        metrics=metrics,
    )


# Set by a SIGTERM/SIGINT that arrives while the process is still starting up.
_STOP_REQUESTED = threading.Event()


def _request_stop(*_: object) -> None:
    _STOP_REQUESTED.set()


async def serve(settings: IngestSettings, name: str) -> None:
    """Run one worker in this process until SIGTERM or SIGINT."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if _STOP_REQUESTED.is_set():
        stop.set()
    ctx = await asyncio.to_thread(load_context, settings, IngestMetrics())
    await Worker(settings, ctx, name).run(stop)


def _process_main(settings_data: dict[str, Any], name: str) -> None:
    """Entry point of a spawned worker process."""
    # A stop request during start-up must not kill the process half-way: remember it.
    signal.signal(signal.SIGTERM, _request_stop)
    signal.signal(signal.SIGINT, _request_stop)
    settings = IngestSettings.model_validate(settings_data)
    configure_logging("ingest", settings.log_level)
    setup_telemetry("ingest")
    asyncio.run(serve(settings, name))


class WorkerPool:
    """The worker processes of one API process."""

    def __init__(self, settings: IngestSettings) -> None:
        self.settings = settings
        self._context = multiprocessing.get_context("spawn")
        self.processes: list[multiprocessing.process.BaseProcess] = []
        self._stopping = False

    def _spawn(self, index: int) -> multiprocessing.process.BaseProcess:
        name = f"ingest-worker-{index}"
        process = self._context.Process(
            target=_process_main,
            args=(self.settings.model_dump(), name),
            name=name,
            daemon=True,
        )
        process.start()
        return process

    def start(self) -> None:
        self.processes = [self._spawn(i) for i in range(self.settings.workers)]
        log.info("started %d ingest worker processes", len(self.processes))

    def respawn_dead(self) -> int:
        """Restart workers that died (a crash, the OOM killer); returns how many."""
        if self._stopping:
            return 0
        restarted = 0
        for index, process in enumerate(self.processes):
            if not process.is_alive():
                log.error(
                    "ingest worker %s exited with %s; restarting it", process.name, process.exitcode
                )
                process.close()
                self.processes[index] = self._spawn(index)
                restarted += 1
        return restarted

    def _stop_blocking(self, grace: float) -> None:
        for process in self.processes:
            if process.is_alive():
                process.terminate()  # SIGTERM: finish the file in hand, then exit
        for process in self.processes:
            process.join(grace)
            if process.is_alive():
                log.warning(
                    "ingest worker %s did not stop in %.0f s; killing it", process.name, grace
                )
                process.kill()  # its open transaction is rolled back; the file is retried
                process.join(5)

    async def stop(self) -> None:
        self._stopping = True
        await asyncio.to_thread(self._stop_blocking, self.settings.shutdown_grace_seconds)
        self.processes = []


def main() -> None:
    signal.signal(signal.SIGTERM, _request_stop)
    signal.signal(signal.SIGINT, _request_stop)
    settings = IngestSettings()
    configure_logging("ingest", settings.log_level)
    setup_telemetry("ingest")
    asyncio.run(serve(settings, "ingest-worker"))


if __name__ == "__main__":
    main()
