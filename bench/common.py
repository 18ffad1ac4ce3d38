"""What the benchmarks share: a scratch PostgreSQL, keys, a TLS service process, row output."""

from __future__ import annotations

import asyncio
import os
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import psutil

from meterhub_common.auth import generate_signing_key
from meterhub_common.devtls import ensure_dev_ca, issue_server_cert
from meterhub_devstack.pg import PostgresCluster, free_port
from meterhub_devstack.testing import migrate

REPO = Path(__file__).resolve().parents[1]
BENCH_STATE = Path(os.environ.get("MH_BENCH_STATE", REPO / ".state" / "bench"))


def row(what: str, size: str, seconds: float, rate: str, baseline: str = "") -> None:
    print(f"| {what} | {size} | {seconds:.2f} s | {rate} | {baseline} |", flush=True)


def header() -> None:
    print("| what | size | time | rate | baseline (same run) |")
    print("|---|---|---|---|---|", flush=True)


def fresh_database(name: str) -> tuple[PostgresCluster, str]:
    cluster = PostgresCluster.in_folder(BENCH_STATE / "pg", preferred_port=0)
    cluster.start()

    async def recreate() -> None:
        admin = await asyncpg.connect(
            host="127.0.0.1", port=cluster.port, user=cluster.user, database="postgres"
        )
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
        await admin.close()

    asyncio.run(recreate())
    url = f"postgresql://{cluster.user}@127.0.0.1:{cluster.port}/{name}"
    migrate(url, "upgrade", "head")
    return cluster, url


@dataclass
class Tls:
    ca: Path
    cert: Path
    key: Path

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca))


def tls() -> Tls:
    folder = BENCH_STATE / "tls"
    ca = ensure_dev_ca(folder)
    issue_server_cert(ca, folder, "localhost")
    return Tls(folder / "ca.pem", folder / "localhost.pem", folder / "localhost-key.pem")


def token_keys() -> tuple[Path, Path]:
    private, public = BENCH_STATE / "keys" / "private.pem", BENCH_STATE / "keys" / "public.pem"
    generate_signing_key(private, public)
    return private, public


@dataclass
class ServiceProcess:
    process: subprocess.Popen[bytes]
    url: str
    peak_rss: dict[str, int] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)

    def sample_memory(self, interval: float = 0.1) -> None:
        """Track peak RSS of the service process and of each child (worker) process."""

        def loop() -> None:
            parent = psutil.Process(self.process.pid)
            while not self._stop.is_set():
                try:
                    procs = [parent, *parent.children(recursive=True)]
                    total = 0
                    for p in procs:
                        rss = p.memory_info().rss
                        total += rss
                        key = "main" if p.pid == parent.pid else f"child-{p.pid}"
                        self.peak_rss[key] = max(self.peak_rss.get(key, 0), rss)
                    self.peak_rss["total"] = max(self.peak_rss.get("total", 0), total)
                except psutil.Error:
                    pass
                time.sleep(interval)

        threading.Thread(target=loop, daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


@contextmanager
def serve(factory: str, env: dict[str, str], certs: Tls, log: Path) -> Iterator[ServiceProcess]:
    port = free_port()
    log.parent.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            factory,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--no-access-log",
            "--ssl-certfile",
            str(certs.cert),
            "--ssl-keyfile",
            str(certs.key),
        ],
        env={**os.environ, **env},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        cwd=REPO,
    )
    service = ServiceProcess(process, f"https://localhost:{port}")
    deadline = time.monotonic() + 60
    with httpx.Client(verify=certs.client_context()) as client:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{factory} exited; see {log}")
            try:
                if client.get(f"{service.url}/readyz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{factory} not ready in 60 s; see {log}")
            time.sleep(0.2)
    try:
        yield service
    finally:
        service.stop()


async def prewarm(url: str) -> None:
    """Read the interval partitions and their indexes into the OS page cache.

    A production database keeps the recent days it serves in memory (and the day a TDSP just
    loaded is in memory when it is published); right after a restart, or after another
    benchmark filled the page cache, many rows are on disk instead, and the first read of each
    then measures the disk: that made the usage reads' p99 swing between 90 ms and 1.1 s, and
    the FTPS publishing time between 27 and 36 s, from run to run here."""
    connection = await asyncpg.connect(url)
    try:
        started = time.perf_counter()
        await connection.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
        blocks = await connection.fetchval(
            "SELECT sum(pg_prewarm(c.oid::regclass, 'read')) FROM pg_class c"
            " WHERE (c.relname LIKE 'interval_reads_p%' OR c.relname LIKE 'service_history%')"
            " AND c.relkind IN ('r', 'i')"
        )
        print(f"prewarmed {blocks * 8 / 1024:.0f} MiB in {time.perf_counter() - started:.0f} s")
    finally:
        await connection.close()
