"""FTPS publisher benchmark (not a test): 2.5M interval records over 20 REPs -> files in place.

    .venv/bin/python -m bench.bench_ftps [--records 2500000] [--reps 20] [--workers N] [--reuse]

Starts (or reuses) a PostgreSQL in ``.state/bench-ftps``, recreates the scratch database
``bench_ftps``, migrates it, and seeds with SQL ``generate_series`` one operating day of
interval records (one per ESI ID), service history spreading the ESI IDs over the REPs, one
TDSP file per 50,000 records and the change events ingest would have written (one per file
and REP). Then it times the real publisher from those events to every REP's file in place,
and one REP's full-day download with stdlib ``ftplib.FTP_TLS`` from the real FTPS server.
The CPU rows split the CPU seconds of the publishing run by kind of process (this process,
its worker processes, gpg, the PostgreSQL backends) and show what others used meanwhile: the
machine is shared, so compare CPU seconds, not wall time, between noisy runs.

Seeding notes: the service-history no-overlap constraint (a GiST exclusion index) is dropped
in the scratch database before seeding, because 2.5M GiST inserts take ~5 minutes here and
the publisher only reads the table; nothing timed depends on it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import shutil
import sys
import time
import uuid
from datetime import date
from ftplib import FTP_TLS
from pathlib import Path

import asyncpg
import psutil

ROOT = Path(__file__).resolve().parents[1]
DAY = date(2026, 11, 10)
PASSWORD = "bench password 0123"


def row(what: str, size: str, seconds: float, rate: str) -> None:
    print(f"{what:<48} {size:>16} {seconds:>10.2f} s {rate:>16}", flush=True)


class CpuMeter:
    """CPU seconds by kind of process: the machine is shared, so wall time alone misleads.

    publisher = this process (event loop, COPY receive, gpg plumbing); workers = its process
    pool; gpg = every gpg child, reaped or not, of either (reaped children are counted in
    their parent's children times); postgres = the bench cluster's postmaster and all its
    backends, parallel workers included; machine = everything, for the load of others.
    """

    def __init__(self, data_dir: Path, gnupg_home: Path) -> None:
        self._postmaster = int((data_dir / "postmaster.pid").read_text().split()[0])
        self._home = str(gnupg_home)

    def sample(self) -> dict[str, float]:
        machine = psutil.cpu_times()
        used = {"publisher": 0.0, "workers": 0.0, "gpg": 0.0, "postgres": 0.0}
        used["machine"] = machine.user + machine.system + machine.nice + machine.softirq
        me = psutil.Process()
        own = me.cpu_times()
        used["publisher"] = own.user + own.system
        used["gpg"] = own.children_user + own.children_system
        for child in me.children(recursive=True):
            with contextlib.suppress(psutil.NoSuchProcess):
                times = child.cpu_times()
                kind = "gpg" if child.name().startswith("gpg") else "workers"
                used[kind] += times.user + times.system
                # A worker's reaped children are its gpg processes.
                used["gpg"] += times.children_user + times.children_system
        for proc in psutil.process_iter(["name", "cmdline"]):
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                if proc.info["name"] == "gpg-agent" and self._home in " ".join(
                    proc.info["cmdline"] or ()
                ):
                    times = proc.cpu_times()
                    used["gpg"] += times.user + times.system
        with contextlib.suppress(psutil.NoSuchProcess):
            postmaster = psutil.Process(self._postmaster)
            times = postmaster.cpu_times()
            used["postgres"] += (
                times.user + times.system + times.children_user + times.children_system
            )
            for backend in postmaster.children():
                with contextlib.suppress(psutil.NoSuchProcess):
                    times = backend.cpu_times()
                    used["postgres"] += times.user + times.system
        return used


def cpu_rows(before: dict[str, float], after: dict[str, float], records: int) -> None:
    spent = {k: after[k] - before[k] for k in before}
    machine = spent.pop("machine")
    ours = sum(spent.values())
    for kind, seconds in spent.items():
        row(f"  CPU {kind}", f"{seconds / records * 1e6:.2f} us/rec", seconds, "")
    row("  CPU all of the above", f"{ours / records * 1e6:.2f} us/rec", ours, "")
    row("  CPU others on the machine", "", max(machine - ours, 0.0), f"{os.cpu_count()} cores")


async def seed(
    url: str, records: int, reps: list[str], fingerprints: list[str], armored: list[str]
) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("SET synchronous_commit = off")
        await conn.execute("ALTER TABLE service_history DROP CONSTRAINT service_history_no_overlap")
        await conn.execute("SELECT meterhub_ensure_month_partitions('interval_reads', $1, $1)", DAY)
        files = (records + 49_999) // 50_000
        file_ids = [uuid.uuid4() for _ in range(files)]
        await conn.executemany(
            "INSERT INTO tdsp_files (id, sender_duns, kind, sha256, size_bytes, encrypted, via,"
            " status, attempts) VALUES ($1, '007924772', 'lse', $2, 1, true, 'api', 'loaded', 1)",
            [(f, uuid.uuid4().hex * 2) for f in file_ids],
        )
        await conn.execute(
            "CREATE TEMP TABLE bench_files AS SELECT f.id, f.n FROM unnest($1::uuid[]) "
            "WITH ORDINALITY AS f(id, n)",
            file_ids,
        )
        await conn.execute(
            "CREATE TEMP TABLE bench_reps AS SELECT r.duns, r.n FROM unnest($1::text[]) "
            "WITH ORDINALITY AS r(duns, n)",
            reps,
        )
        # 1000 distinct value arrays, reused: realistic 3-decimal values, cheap to generate.
        await conn.execute(
            "CREATE TEMP TABLE bench_kwh AS SELECT g AS k, ARRAY(SELECT round((random() * 2)"
            "::numeric, 3) FROM generate_series(1, 96) WHERE g >= 0) AS kwh "
            "FROM generate_series(0, 999) g"
        )
        t = time.perf_counter()
        await conn.execute(
            "INSERT INTO esiids (esiid, tdsp_duns, premise_type) SELECT '10443720' || "
            "lpad(n::text, 9, '0'), '007924772', 'residential' FROM generate_series(1, $1) n",
            records,
        )
        await conn.execute(
            "INSERT INTO service_history (esiid, start_date, end_date, rep_duns) "
            "SELECT '10443720' || lpad(s.i::text, 9, '0'), DATE '2025-01-01', NULL, r.duns "
            "FROM generate_series(1, $1) AS s(i) JOIN bench_reps r ON r.n = s.i % $2 + 1",
            records,
            len(reps),
        )
        await conn.execute(
            "INSERT INTO interval_reads (esiid, channel, operating_day, version, is_current,"
            " interval_count, kwh, statuses, record_created_at, revision_at, source_file_id,"
            " transaction_id) SELECT '10443720' || lpad(s.i::text, 9, '0'), 4, $2, 1,"
            " true, 96, k.kwh, repeat('A', 96), now(), now(), f.id, 'T' || s.i"
            " FROM generate_series(1, $1) AS s(i) JOIN bench_kwh k ON k.k = s.i % 1000"
            " JOIN bench_files f ON f.n = (s.i - 1) / 50000 + 1",
            records,
            DAY,
        )
        await conn.execute(
            "INSERT INTO usage_change_events (file_id, rep_duns, operating_day, kind,"
            " supplemental, esiid_count) SELECT f.id, r.duns, $1, 'lse', false, 0"
            " FROM bench_files f CROSS JOIN bench_reps r ORDER BY f.n, r.n",
            DAY,
        )
        for duns, fpr, key in zip(reps, fingerprints, armored, strict=True):
            await conn.execute(
                "INSERT INTO ftps_rep_keys (id, rep_duns, fingerprint, armored, status) "
                "VALUES ($1, $2, $3, $4, 'active')",
                uuid.uuid4(),
                duns,
                fpr,
                key,
            )
        await conn.execute("ANALYZE")
        print(f"# seeded {records} records in {time.perf_counter() - t:.1f} s", flush=True)
    finally:
        await conn.close()


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=2_500_000)
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument(
        "--workers", type=int, default=None, help="publish workers (default: the setting's)"
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep the seeded database of a previous run; only reset what the publisher wrote",
    )
    parser.add_argument("--verbose", action="store_true", help="log each file as it is placed")
    args = parser.parse_args()

    from bench.common import prewarm
    from meterhub_common.auth import generate_signing_key, hash_secret
    from meterhub_common.devtls import client_ssl_context
    from meterhub_common.pgp import Keyring
    from meterhub_devstack.pg import PostgresCluster
    from meterhub_devstack.testing import migrate
    from meterhub_ftps_publisher.main import create_app
    from meterhub_ftps_publisher.settings import FtpsPublisherSettings

    state = ROOT / ".state" / "bench-ftps"
    cluster = PostgresCluster.in_folder(state, preferred_port=0)
    cluster.start()
    url = f"postgresql://{cluster.user}@127.0.0.1:{cluster.port}/bench_ftps"
    work = state / "run"
    if args.reuse:
        migrate(url, "upgrade", "head")
        conn = await asyncpg.connect(url)
        await conn.execute(
            "UPDATE ftps_publisher_cursor SET last_event_id = 0; DELETE FROM ftps_handled_events;"
            " DELETE FROM ftps_published_files; DELETE FROM ftps_deliveries;"
            " DELETE FROM ftps_retrievals"
        )
        reps = [r[0] for r in await conn.fetch("SELECT rep_duns FROM ftps_rep_keys ORDER BY 1")]
        records = await conn.fetchval(
            "SELECT count(*) FROM interval_reads WHERE operating_day = $1", DAY
        )
        await conn.close()
        shutil.rmtree(work / "root", ignore_errors=True)
    else:
        admin = await asyncpg.connect(
            host="127.0.0.1", port=cluster.port, user=cluster.user, database="postgres"
        )
        await admin.execute('DROP DATABASE IF EXISTS "bench_ftps" WITH (FORCE)')
        await admin.execute('CREATE DATABASE "bench_ftps"')
        await admin.close()
        migrate(url, "upgrade", "head")
        for sub in ("root", "g", "ck"):
            shutil.rmtree(work / sub, ignore_errors=True)
        records = args.records
        client = Keyring(work / "ck")
        reps = [f"{100000000 + i:09d}" for i in range(1, args.reps + 1)]
        fingerprints = [client.generate_key(f"REP {d}", f"rep{d}@example.com") for d in reps]
        armored = [client.export_public(f) for f in fingerprints]
        client.close()
        await seed(url, records, reps, fingerprints, armored)
        conn = await asyncpg.connect(url)
        await conn.execute(
            "INSERT INTO ftps_accounts (rep_duns, password_hash) VALUES ($1, $2)",
            reps[0],
            hash_secret(PASSWORD),
        )
        await conn.close()

    generate_signing_key(work / "token.key", work / "token.pub")
    settings = FtpsPublisherSettings(
        environment="development",
        database_url=url,
        token_public_key_file=work / "token.pub",
        root=work / "root",
        gnupg_home=work / "g",
        dev_ca_dir=work / "ca",
        ftps_port=0,
        passive_ports="61000-61020",
        start_publisher=False,
        **({} if args.workers is None else {"publish_workers": args.workers}),
        log_level="INFO" if args.verbose else "WARNING",
    )
    await prewarm(url)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        publisher = app.state.publisher
        meter = CpuMeter(cluster.data_dir, work / "g")
        # The pool's worker processes start lazily: start them before measuring, as a
        # running service has them.
        await publisher.warm_up()
        cpu_before = meter.sample()
        started = time.perf_counter()
        report = await publisher.run_until_idle()
        elapsed = time.perf_counter() - started
        cpu_after = meter.sample()
        files = len(report.files)
        total = report.bytes_written
        rows = sum(f.record_count for f in report.files)
        print(f"{'what':<48} {'size':>16} {'time':>12} {'rate':>16}")
        row(
            f"events -> {files} files in place ({records} records)",
            f"{total / 1e6:.1f} MB",
            elapsed,
            f"{records / elapsed:,.0f} rec/s",
        )
        row(
            "  CSV lines written (before zip + PGP)",
            f"{rows:,}",
            elapsed,
            f"{rows / elapsed / 1e6:.1f} M lines/s",
        )
        cpu_rows(cpu_before, cpu_after, records)
        assert files == len(reps), f"expected {len(reps)} files, got {files}"

        target = next(f for f in report.files if f.rep_duns == reps[0])
        port = app.state.ftps_server.address[1]

        def fetch() -> tuple[int, float]:
            ftp = FTP_TLS(context=client_ssl_context(work / "ca" / "ca.pem"), timeout=60)  # noqa: S321
            ftp.connect("127.0.0.1", port)
            ftp.auth()
            ftp.login(reps[0], PASSWORD)
            ftp.prot_p()
            sink = io.BytesIO()
            t = time.perf_counter()
            ftp.retrbinary(f"RETR {target.file_name}", sink.write, blocksize=1 << 16)
            took = time.perf_counter() - t
            ftp.quit()
            return len(sink.getvalue()), took

        size, took = await asyncio.to_thread(fetch)
        row(
            f"FTPS download of one REP's day ({reps[0]})",
            f"{size / 1e6:.1f} MB",
            took,
            f"{size / took / 1e6:.1f} MB/s",
        )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(main()))
    finally:
        # The data folder stays (for --reuse); the server does not outlive the benchmark.
        from meterhub_devstack.pg import PostgresCluster

        PostgresCluster.in_folder(ROOT / ".state" / "bench-ftps", preferred_port=0).stop()
