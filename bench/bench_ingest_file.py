"""Benchmark of one 50,000-record LSE file, end to end through the ingest service.

Starts a throwaway PostgreSQL under .state/bench-ingest, the ingest service with uvicorn over
TLS on loopback (its worker processes included), registers the ESI IDs, then:

1. POSTs a zipped, PGP-encrypted file of --records new records (one operating day, 96
   intervals each, 2% of hours estimated) and times until GET /v1/files/{id} says loaded;
2. POSTs a second file with newer versions of the same records (every record replaces its
   current version) and times it the same way;
3. times the parser alone on the same text, and a bare COPY of the same rows into an
   equivalent table, to show where the time goes.

Reports wall times, records/s, the CPU time the files cost (service, workers and their
database sessions) and the peak RSS of the service's process tree. With ``--files N`` it then
sends N more files of new ESI IDs, four at a time, and times until all are loaded.

    python bench/bench_ingest_file.py --records 50000 [--files 6]

The PostgreSQL cluster is stopped at the end; its data folder stays for a rerun.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import random
import signal
import ssl
import subprocess
import sys
import threading
import time
import uuid
import zipfile
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import psutil

from meterhub_common.auth import Principal, TokenIssuer, generate_signing_key
from meterhub_common.devtls import ensure_dev_ca, issue_server_cert
from meterhub_common.domain import CENTRAL
from meterhub_common.models.usage_api import Role
from meterhub_common.pgp import Keyring
from meterhub_devstack.pg import PostgresCluster, free_port
from meterhub_devstack.testing import migrate
from meterhub_ingest.lse import ParsedRecord, parse_lse, render_lse, synthetic_record

ROOT = Path(__file__).resolve().parents[1]
STATE = ROOT / ".state" / "bench-ingest"
ONCOR = "007924772"
REP = "148537214"
PREFIX = "10443720"
DAY = date(2026, 11, 1) - timedelta(days=30)


def esiid(n: int) -> str:
    return f"{PREFIX}{n:09d}"


def make_lse(records: int, created: datetime, seed: int, first: int = 0) -> bytes:
    """Realistic records: a few hundred distinct load curves spread over all the ESI IDs."""
    rng = random.Random(seed)
    shapes = [
        synthetic_record(esiid(i), 4, DAY, created_at=created, rng=rng, sender=ONCOR, rep=REP)
        for i in range(min(records, 500))
    ]
    lines = render_lse(
        replace(shapes[i % len(shapes)], esiid=esiid(first + i), transaction_id=f"T{seed}-{i}")
        for i in range(records)
    )
    return ("\n".join(lines) + "\n").encode()


def seal(keyring: Keyring, recipient: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        archive.writestr("007924772IntervalData20261101000000001.lse", data)
    return keyring.encrypt(buffer.getvalue(), recipient, armor=False)


class RssSampler:
    """Peak resident memory of a process and all its children, sampled every 20 ms."""

    def __init__(self, pid: int) -> None:
        self.root = psutil.Process(pid)
        self.peak_total = 0
        self.peak_single = 0
        self.peaks: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                procs = [self.root, *self.root.children(recursive=True)]
                sizes = []
                for proc in procs:
                    with contextlib.suppress(psutil.Error):
                        size = proc.memory_info().rss
                        sizes.append(size)
                        name = "api" if proc.pid == self.root.pid else proc.name()
                        if "spawn" in " ".join(proc.cmdline()):
                            name = f"worker {proc.pid}"
                        self.peaks[name] = max(self.peaks.get(name, 0), size)
                self.peak_total = max(self.peak_total, sum(sizes))
                self.peak_single = max(self.peak_single, max(sizes, default=0))
            except psutil.Error:
                pass
            time.sleep(0.1)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


async def prepare_database(url: str, records: int) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            """
            INSERT INTO esiids (esiid, tdsp_duns, premise_type)
            SELECT $1 || lpad(n::text, 9, '0'), $2, 'residential'
              FROM generate_series(0, $3 - 1) AS n
            """,
            PREFIX,
            ONCOR,
            records,
        )
        await conn.execute(
            """
            INSERT INTO service_history (esiid, start_date, rep_duns)
            SELECT esiid, DATE '2020-01-01', $1 FROM esiids
            """,
            REP,
        )
        await conn.execute("ANALYZE esiids; ANALYZE service_history")
    finally:
        await conn.close()


async def send_and_wait(
    client: httpx.AsyncClient, base: str, token: str, body: bytes
) -> tuple[float, float, dict[str, object]]:
    started = time.perf_counter()
    response = await client.post(
        f"{base}/v1/files",
        params={"kind": "lse", "filename": "bench.lse.zip.pgp"},
        content=body,
        headers={"Authorization": f"Bearer {token}"},
    )
    accepted = time.perf_counter()
    response.raise_for_status()
    file_id = response.json()["file_id"]
    while True:
        view = (
            await client.get(
                f"{base}/v1/files/{file_id}", headers={"Authorization": f"Bearer {token}"}
            )
        ).json()
        if view["status"] not in ("received", "processing"):
            return accepted - started, time.perf_counter() - accepted, view
        await asyncio.sleep(0.1)


async def send_many(
    client: httpx.AsyncClient,
    base: str,
    token: str,
    bodies: list[bytes],
    concurrency: int,
    records: int,
) -> None:
    """POST files ``concurrency`` at a time and wait until every one is loaded."""
    gate = asyncio.Semaphore(concurrency)
    auth = {"Authorization": f"Bearer {token}"}
    ids: list[str] = []

    async def post(body: bytes) -> None:
        async with gate:
            response = await client.post(
                f"{base}/v1/files", params={"kind": "lse"}, content=body, headers=auth
            )
            response.raise_for_status()
            ids.append(response.json()["file_id"])

    started = time.perf_counter()
    await asyncio.gather(*(post(body) for body in bodies))
    posted = time.perf_counter() - started
    pending = set(ids)
    while pending:
        for file_id in list(pending):
            view = (await client.get(f"{base}/v1/files/{file_id}", headers=auth)).json()
            if view["status"] not in ("received", "processing"):
                pending.discard(file_id)
        await asyncio.sleep(0.2)
    total = time.perf_counter() - started
    count = len(bodies) * records
    print(
        f"{len(bodies)} files x {records:,} records, {concurrency} uploads at a time: all posted "
        f"after {posted:.1f} s, all queryable after {total:.1f} s ({count / total:,.0f} records/s)",
        flush=True,
    )


async def cpu_seconds(pid: int, url: str) -> dict[str, float]:
    """CPU time so far of the service's process tree and of the workers' database sessions."""

    def used(proc: psutil.Process) -> float:
        with contextlib.suppress(psutil.Error):
            times = proc.cpu_times()
            return float(times.user + times.system)
        return 0.0

    root = psutil.Process(pid)
    service = sum(used(p) for p in [root, *root.children(recursive=True)])
    conn = await asyncpg.connect(url)
    try:
        pids = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'meterhub-ingest-%'"
        )
    finally:
        await conn.close()
    database = sum(used(psutil.Process(row["pid"])) for row in pids)
    return {"service": service, "database": database}


async def bare_copy(url: str, text: bytes) -> float:
    """COPY of the same rows (as the loader stages them) into a bare table, for comparison."""
    rows: list[str] = []
    for record in parse_lse(io.StringIO(text.decode()), sender_duns=ONCOR, today=date.today()):
        if not isinstance(record, ParsedRecord):
            continue
        values = ",".join(v if v is not None else "NULL" for v in record.values)
        rows.append(
            f"{record.esiid}\t{record.channel}\t{record.operating_day}\t1\tt\t"
            f"{len(record.values)}\t{{{values}}}\t{record.statuses}\t{record.created_at}\t"
            f"{record.created_at}\t\\N\t{uuid.uuid4()}\t{record.transaction_id}\n"
        )
    data = "".join(rows).encode()
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "DROP TABLE IF EXISTS bench_bare; "
            "CREATE TABLE bench_bare (LIKE interval_reads INCLUDING DEFAULTS)"
        )
        started = time.perf_counter()
        await conn.copy_to_table("bench_bare", source=io.BytesIO(data), format="text")
        return time.perf_counter() - started
    finally:
        await conn.execute("DROP TABLE IF EXISTS bench_bare")
        await conn.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--files",
        type=int,
        default=0,
        help="then also send this many more files of new ESI IDs, --concurrency at a time",
    )
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()

    STATE.mkdir(parents=True, exist_ok=True)
    cluster = PostgresCluster.in_folder(STATE / "pg", preferred_port=0)
    cluster.start()
    admin = await asyncpg.connect(cluster.url.rsplit("/", 1)[0] + "/postgres")
    await admin.execute("DROP DATABASE IF EXISTS bench_ingest WITH (FORCE)")
    await admin.execute("CREATE DATABASE bench_ingest")
    await admin.close()
    url = cluster.url.rsplit("/", 1)[0] + "/bench_ingest"
    migrate(url, "upgrade", "head")
    await prepare_database(url, args.records * (1 + args.files))

    keys_dir = STATE / "keys"
    generate_signing_key(keys_dir / "token.pem", keys_dir / "token.pub")
    issuer = TokenIssuer((keys_dir / "token.pem").read_bytes(), issuer="meterhub", ttl_seconds=3600)
    token = issuer.issue(Principal(uuid.uuid4(), Role.TDSP, ONCOR, "bench"))
    repo = Keyring(STATE / "gpg")
    secret = [str(f) for f in repo.gpg.list_keys(secret=True).fingerprints]
    fpr = secret[0] if secret else repo.generate_key("Bench repository", "bench@meterhub.test")

    print(f"generating {args.records:,} records ...", flush=True)
    created = datetime(2026, 10, 5, 3, 0, tzinfo=CENTRAL)
    first_text = make_lse(args.records, created, seed=1)
    second_text = make_lse(args.records, created + timedelta(hours=5), seed=2)
    first, second = seal(repo, fpr, first_text), seal(repo, fpr, second_text)
    more = [
        seal(repo, fpr, make_lse(args.records, created, seed=10 + n, first=(n + 1) * args.records))
        for n in range(args.files)
    ]
    print(
        f"file: {len(first_text) / 1e6:.1f} MB of LSE, {len(first) / 1e6:.1f} MB zipped and "
        "encrypted",
        flush=True,
    )

    ca = ensure_dev_ca(STATE / "tls")
    cert = issue_server_cert(ca, STATE / "tls", "ingest", ["127.0.0.1"])
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "MH_TOKEN_PUBLIC_KEY_FILE": str(keys_dir / "token.pub"),
        "MH_ENVIRONMENT": "development",
        "MH_INGEST_PGP_HOME": str(repo.home),
        "MH_INGEST_WORKERS": str(args.workers),
        "MH_INGEST_SESSION_SECRET": "bench",
        "MH_INGEST_MAX_RECORDS": str(max(args.records, 50_000)),
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "meterhub_ingest.main:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--ssl-certfile",
            str(cert.cert_path),
            "--ssl-keyfile",
            str(cert.key_path),
        ],
        env=env,
        stdout=(STATE / "uvicorn.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    base = f"https://127.0.0.1:{port}"
    try:
        tls = ssl.create_default_context(cafile=ca.cert_path)
        async with httpx.AsyncClient(verify=tls, timeout=120) as client:
            for _ in range(300):
                try:
                    if (await client.get(f"{base}/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            # Measure a running service: wait until every worker process is connected.
            watcher = await asyncpg.connect(url)
            try:
                for _ in range(600):
                    connected = await watcher.fetchval(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE application_name LIKE 'meterhub-ingest-worker-%-listen'"
                    )
                    if connected >= args.workers:
                        break
                    await asyncio.sleep(0.1)
            finally:
                await watcher.close()
            # CPU time from here on is the files' (start-up imports are left out).
            baseline = await cpu_seconds(server.pid, url)
            with RssSampler(server.pid) as rss:
                for name, body in (("new records", first), ("replacements", second)):
                    post, loaded, view = await send_and_wait(client, base, token, body)
                    counts = view["counts"]
                    print(
                        f"{name}: POST {post:.2f} s, then queryable after {loaded:.2f} s "
                        f"({args.records / loaded:,.0f} records/s); status {view['status']}, "
                        f"counts {counts}",
                        flush=True,
                    )
                if more:
                    await send_many(client, base, token, more, args.concurrency, args.records)
        spent = await cpu_seconds(server.pid, url)
        cpu = {name: spent[name] - baseline[name] for name in spent}
        files = 2 + args.files
        print(
            f"CPU used: {cpu['service']:.1f} s by the service and its workers, "
            f"{cpu['database']:.1f} s by their database sessions; "
            f"{sum(cpu.values()) / files:.2f} CPU-s per file",
            flush=True,
        )
        print(
            f"peak RSS: {rss.peak_total / 2**20:.0f} MB for the service and its workers, "
            f"{rss.peak_single / 2**20:.0f} MB for the largest process "
            f"({', '.join(f'{k} {v / 2**20:.0f}' for k, v in sorted(rss.peaks.items()))})",
            flush=True,
        )
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)

    started = time.perf_counter()
    count = sum(
        1
        for _ in parse_lse(io.StringIO(first_text.decode()), sender_duns=ONCOR, today=date.today())
    )
    print(f"parser alone: {count:,} records in {time.perf_counter() - started:.2f} s")
    print(f"bare COPY of the same rows: {await bare_copy(url, first_text):.2f} s")
    conn = await asyncpg.connect(url)
    rows = await conn.fetchval("SELECT count(*) FROM interval_reads")
    current = await conn.fetchval("SELECT count(*) FROM interval_reads WHERE is_current")
    await conn.close()
    print(f"interval_reads: {rows:,} rows, {current:,} current")
    conn = await asyncpg.connect(url)
    timings = await conn.fetch(
        "SELECT extract(epoch FROM started_at - received_at) AS queued, "
        "extract(epoch FROM finished_at - started_at) AS worked FROM tdsp_files "
        "ORDER BY received_at"
    )
    await conn.close()
    print(
        "per file, seconds queued + loading: "
        + ", ".join(f"{t['queued']:.1f}+{t['worked']:.1f}" for t in timings)
    )
    repo.close()
    cluster.stop()


if __name__ == "__main__":
    asyncio.run(main())
