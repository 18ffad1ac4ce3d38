"""Benchmark of an ad-hoc report: 50,000 ESI IDs x 1 day of intervals delivered to FTPS.

Seeds a scratch PostgreSQL under .state/bench-report with SQL generate_series (ESI IDs, the
REP's service history, one day of 15-minute intervals each, plus ESI IDs of another REP that
the report must list as excluded), starts the ftps-publisher and the usage API as uvicorn
processes over TLS on loopback (one worker each, as in a pod), registers the REP's PGP key,
then times ``POST /v1/reports`` until the zipped, encrypted file is in the REP's FTPS folder.
Target on 2 cores: delivered within 60 s.

    python bench/bench_usage_report.py --esiids 50000 --days 1

Prints rows: what, size, time, rate. Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import ssl
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import asyncpg
import httpx

from meterhub_common.auth import Principal, TokenIssuer, generate_signing_key
from meterhub_common.devtls import ensure_dev_ca, issue_server_cert
from meterhub_common.domain.operating_day import today_central
from meterhub_common.models.usage_api import Role
from meterhub_common.pgp import Keyring
from meterhub_devstack.pg import PostgresCluster, free_port
from meterhub_devstack.testing import migrate

ROOT = Path(__file__).resolve().parents[1]
STATE = ROOT / ".state" / "bench-report"
PREFIX = "10443730"  # + 9 digits
TDSP = "007924772"
REP = "148537299"
OTHER_REP = "626765899"


def row(what: str, size: str, seconds: float, rate: str) -> None:
    print(f"| {what} | {size} | {seconds:.2f} s | {rate} |", flush=True)


async def seed(url: str, esiids: int, excluded: int, days: int) -> tuple[uuid.UUID, list[str]]:
    """Reference data and intervals, in the server; returns the REP's entity and the ids."""
    last = today_central() - timedelta(days=2)
    first = last - timedelta(days=days - 1)
    total = esiids + excluded
    connection = await asyncpg.connect(url)
    try:
        started = time.perf_counter()
        await connection.execute(
            "TRUNCATE interval_reads, service_history, meters, esiids, report_requests CASCADE"
        )
        await connection.execute("DELETE FROM entities WHERE duns = $1", REP)
        rep = uuid.uuid4()
        await connection.execute(
            "INSERT INTO entities (id, duns, name, role) VALUES ($1, $2, 'Bench REP', 'rep')",
            rep,
            REP,
        )
        await connection.execute(
            "INSERT INTO esiids (esiid, tdsp_duns, premise_type, city, state)"
            " SELECT $1 || lpad(g::text, 9, '0'), $2, 'residential', 'Dallas', 'TX'"
            " FROM generate_series(1, $3::int) g",
            PREFIX,
            TDSP,
            total,
        )
        await connection.execute(
            "INSERT INTO service_history (esiid, start_date, end_date, rep_duns)"
            " SELECT $1 || lpad(g::text, 9, '0'), DATE '2024-01-01', NULL,"
            " CASE WHEN g <= $3 THEN $4 ELSE $5 END FROM generate_series(1, $2::int) g",
            PREFIX,
            total,
            esiids,
            REP,
            OTHER_REP,
        )
        await connection.execute(
            "SELECT meterhub_ensure_month_partitions('interval_reads'::regclass, $1, $2)",
            first,
            last,
        )
        for offset in range(days):
            day = first + timedelta(days=offset)
            # Each ESI ID its own values (kWh with three decimals), a few hours estimated.
            await connection.execute(
                """
                WITH span AS (
                    SELECT (extract(epoch FROM (($1::date + 1)::timestamp
                            AT TIME ZONE 'America/Chicago')
                            - ($1::date::timestamp AT TIME ZONE 'America/Chicago')) / 900)::int
                        AS n
                )
                INSERT INTO interval_reads (esiid, channel, operating_day, version, is_current,
                    interval_count, kwh, statuses, record_created_at, revision_at,
                    source_file_id, transaction_id)
                SELECT $2 || lpad(g::text, 9, '0'), 4, $1::date, 1, true, s.n,
                       ARRAY(SELECT round((0.05 + ((g * 7 + i * 13) % 997) / 1000.0)::numeric, 3)
                             FROM generate_series(1, s.n) i),
                       CASE WHEN g % 50 = 0 THEN repeat('A', s.n - 4) || 'EEEE'
                            ELSE repeat('A', s.n) END,
                       now(), now(), $3::uuid, 'BENCH' || g
                FROM generate_series(1, $4::int) g, span s
                """,
                day,
                PREFIX,
                uuid.uuid4(),
                total,
            )
        await connection.execute("VACUUM ANALYZE")
        row(
            "seed (generate_series)",
            f"{total:,} ESI IDs x {days} day",
            time.perf_counter() - started,
            f"{total * days / (time.perf_counter() - started):,.0f} records/s",
        )
    finally:
        await connection.close()
    ids = [f"{PREFIX}{n:09d}" for n in range(1, total + 1)]
    return rep, ids


def start(
    name: str, factory: str, env: dict[str, str], cert: Path, key: Path
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    log = STATE / "logs" / f"{name}.log"
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
            str(cert),
            "--ssl-keyfile",
            str(key),
        ],
        env={**os.environ, **env},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    return process, f"https://127.0.0.1:{port}"


async def wait_ready(client: httpx.AsyncClient, url: str, process: subprocess.Popen[bytes]) -> None:
    for _ in range(300):
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited; see {STATE / 'logs'}")
        try:
            if (await client.get(f"{url}/readyz")).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        await asyncio.sleep(0.2)
    raise RuntimeError(f"{url} not ready in 60 s")


async def run(args: argparse.Namespace) -> None:
    cluster = PostgresCluster.in_folder(STATE / "pg", preferred_port=0)
    cluster.start()
    try:
        await measure(cluster, args)
    finally:
        cluster.stop()


async def measure(cluster: PostgresCluster, args: argparse.Namespace) -> None:
    admin = await asyncpg.connect(
        host="127.0.0.1", port=cluster.port, user=cluster.user, database="postgres"
    )
    await admin.execute('DROP DATABASE IF EXISTS "bench_report" WITH (FORCE)')
    await admin.execute('CREATE DATABASE "bench_report"')
    await admin.close()
    url = f"postgresql://{cluster.user}@127.0.0.1:{cluster.port}/bench_report"
    await asyncio.to_thread(migrate, url, "upgrade", "head")
    rep, esiids = await seed(url, args.esiids, args.excluded, args.days)

    private, public = STATE / "keys" / "private.pem", STATE / "keys" / "public.pem"
    generate_signing_key(private, public)
    issuer = TokenIssuer(private.read_bytes(), issuer="meterhub", ttl_seconds=3600)
    token = issuer.issue(Principal(rep, Role.REP, REP, "bench-rep"))
    ca = ensure_dev_ca(STATE / "tls")
    cert = issue_server_cert(ca, STATE / "tls", "loopback", ("127.0.0.1", "localhost"))
    ftps_root = STATE / "ftps"
    common = {
        "DATABASE_URL": url,
        "MH_ENVIRONMENT": "development",
        "MH_TOKEN_PUBLIC_KEY_FILE": str(public),
        "MH_CA_CERT_FILE": str(ca.cert_path),
        "MH_LOG_LEVEL": "WARNING",
    }
    publisher, publisher_url = start(
        "ftps-publisher",
        "meterhub_ftps_publisher.main:create_app",
        {
            **common,
            "MH_FTPS_ROOT": str(ftps_root),
            "MH_FTPS_GNUPG_HOME": str(STATE / "gpg-pub"),
            "MH_FTPS_START_FTPS_SERVER": "false",
            "MH_FTPS_START_PUBLISHER": "false",
            "MH_FTPS_PUBLISH_WORKERS": "0",
        },
        cert.cert_path,
        cert.key_path,
    )
    usage, usage_url = start(
        "usage-api",
        "meterhub_usage_api.main:create_app",
        {
            **common,
            "MH_USAGE_TOKEN_PRIVATE_KEY_FILE": str(private),
            "MH_USAGE_FTPS_PUBLISHER_URL": publisher_url,
            "MH_USAGE_REPORT_SPOOL_DIR": str(STATE / "spool"),
            "MH_USAGE_START_AGREEMENT_JOBS": "false",
        },
        cert.cert_path,
        cert.key_path,
    )
    rep_keys = Keyring(STATE / "gpg-rep")
    try:
        trust = ssl.create_default_context(cafile=str(ca.cert_path))
        async with httpx.AsyncClient(verify=trust, timeout=120) as client:
            await wait_ready(client, publisher_url, publisher)
            await wait_ready(client, usage_url, usage)
            fingerprint = await asyncio.to_thread(
                rep_keys.generate_key, "Bench REP", "rep@bench.test"
            )
            armored = await asyncio.to_thread(rep_keys.export_public, fingerprint)
            answer = await client.post(
                f"{publisher_url}/v1/keys",
                json={"armored_key": armored},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert answer.status_code == 201, answer.text

            day = today_central() - timedelta(days=2)
            first = day - timedelta(days=args.days - 1)
            body = {
                "type": "interval",
                "esiids": esiids,
                "start": first.isoformat(),
                "end": day.isoformat(),
            }
            headers = {"Authorization": f"Bearer {token}"}
            started = time.perf_counter()
            ordered = await client.post(f"{usage_url}/v1/reports", json=body, headers=headers)
            accepted = time.perf_counter() - started
            assert ordered.status_code == 202, ordered.text
            report_url = f"{usage_url}{ordered.headers['location']}"
            while True:
                shown = (await client.get(report_url, headers=headers)).json()
                if shown["status"] in ("completed", "failed"):
                    break
                await asyncio.sleep(0.1)
            delivered = time.perf_counter() - started
    finally:
        for process in (usage, publisher):
            process.terminate()
            process.wait(30)
        rep_keys.close()
    assert shown["status"] == "completed", shown
    [placed] = shown["files"]
    path = ftps_root / REP / placed["file_name"]
    records = shown["counts"]["records"]
    size = path.stat().st_size

    connection = await asyncpg.connect(url)
    try:
        steps = await connection.fetchrow(
            "SELECT r.started_at - r.created_at AS queued,"
            " max(c.done_at) - r.started_at AS built,"
            " max(f.delivered_at) - max(c.done_at) AS handed_over"
            " FROM report_requests r JOIN report_chunks c ON c.report_id = r.id"
            " JOIN report_files f ON f.report_id = r.id WHERE r.id = $1"
            " GROUP BY r.id",
            uuid.UUID(shown["id"]),
        )
    finally:
        await connection.close()
    requested = len(esiids)
    row("POST /v1/reports (answered 202)", f"{requested:,} ESI IDs", accepted, "")
    row(
        "  worker: scope + build chunks (COPY)",
        f"{shown['counts']['chunks_total']} chunks",
        steps["built"].total_seconds(),
        f"{records / steps['built'].total_seconds():,.0f} rows/s",
    )
    row(
        "  publisher: zip + encrypt + place",
        f"{placed['bytes'] / 1e6:,.0f} MB CSV -> {size / 1e6:,.1f} MB .zip.asc",
        steps["handed_over"].total_seconds(),
        f"{placed['bytes'] / 1e6 / steps['handed_over'].total_seconds():,.0f} MB/s",
    )
    row(
        "report delivered to the FTPS folder (target <= 60 s)",
        f"{args.esiids:,} ESI IDs x {args.days} day, {records:,} rows, "
        f"{shown['counts']['excluded']:,} excluded",
        delivered,
        f"{records / delivered:,.0f} rows/s",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--esiids", type=int, default=50_000)
    parser.add_argument(
        "--excluded", type=int, default=0, help="ESI IDs of another REP (listed as excluded)"
    )
    parser.add_argument("--days", type=int, default=1)
    args = parser.parse_args()
    if args.esiids + args.excluded > 50_000:
        parser.error("a report covers at most 50,000 ESI IDs (--esiids + --excluded)")
    print("| what | size | time | rate |")
    print("|---|---|---|---|", flush=True)
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
