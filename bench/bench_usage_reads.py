"""Benchmark of usage reads: one ESI ID x 1 day (JSON and CSV) and one ESI ID x 40 days (JSON).

Loads synthetic data into a throwaway PostgreSQL under .state/bench-usage (generated inside
the server, so loading 1,000,000 ESI IDs takes a minute), starts the usage API with uvicorn on
loopback (one worker, as in a pod, unless --workers says otherwise), drives it with wrk at the
given concurrency, and reports throughput and p50/p99 latency next to PostgreSQL's own
execution time of the same statements, so the API's overhead is visible. Each scenario runs
twice: closed loop (every connection sends its next request at once: the most the machine
serves, with wrk, the API and PostgreSQL saturating the 2 cores) and paced to about
--paced-rate requests/s over the same connections (the latency while serving that rate).

    python bench/bench_usage_reads.py --esiids 1000000 --days 7 --long-esiids 1000 \
        --long-days 400 --duration 20 --concurrency 32

Needs wrk (Debian package ``wrk``). Every request loop is bounded by --duration and targets
127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

import asyncpg
import httpx
import psutil

from bench.common import prewarm
from meterhub_common.auth import Principal, TokenIssuer, generate_signing_key
from meterhub_common.models.usage_api import Role
from meterhub_devstack.pg import PostgresCluster, free_port
from meterhub_devstack.testing import migrate

ROOT = Path(__file__).resolve().parents[1]
STATE = ROOT / ".state" / "bench-usage"
REP = "148537214"
ONCOR = "007924772"
SHORT_PREFIX = "10443720"  # + 9 digits: the 1M-ESI ID population
LONG_PREFIX = "10443721"  # + 9 digits: the long-history population
LAST_DAY = date(2026, 11, 20)


def esiid(prefix: str, number: int) -> str:
    return f"{prefix}{number:09d}"


LOAD_SQL = """
SELECT meterhub_ensure_month_partitions('interval_reads'::regclass, $1::date, $2::date);
"""


async def load(url: str, esiids: int, days: int, long_esiids: int, long_days: int) -> None:
    connection = await asyncpg.connect(url)
    try:
        loaded = await connection.fetchval(
            "SELECT count(*) FROM esiids WHERE esiid LIKE $1", f"{SHORT_PREFIX}%"
        )
        if loaded == esiids:
            print(f"data already loaded ({esiids} ESI IDs)")
            return
        print(f"loading {esiids} ESI IDs x {days} days and {long_esiids} x {long_days} days")
        started = time.perf_counter()
        await connection.execute(
            "TRUNCATE interval_reads, service_history, meters, esiids, read_audit CASCADE"
        )
        first = LAST_DAY - timedelta(days=max(days, long_days) - 1)
        await connection.execute(LOAD_SQL, first, LAST_DAY)
        for prefix, count in ((SHORT_PREFIX, esiids), (LONG_PREFIX, long_esiids)):
            await connection.execute(
                "INSERT INTO esiids (esiid, tdsp_duns, premise_type, city, state)"
                " SELECT $1 || lpad(g::text, 9, '0'), $2, 'residential', 'Dallas', 'TX'"
                " FROM generate_series(1, $3::int) g",
                prefix,
                ONCOR,
                count,
            )
            await connection.execute(
                "INSERT INTO service_history (esiid, start_date, end_date, rep_duns)"
                " SELECT $1 || lpad(g::text, 9, '0'), DATE '2022-01-01', NULL, $2"
                " FROM generate_series(1, $3::int) g",
                prefix,
                REP,
                count,
            )
        for prefix, count, span in (
            (SHORT_PREFIX, esiids, days),
            (LONG_PREFIX, long_esiids, long_days),
        ):
            for offset in range(span):
                day = LAST_DAY - timedelta(days=offset)
                await connection.execute(
                    """
                    WITH profile AS (
                        SELECT array_agg(round(0.05 + (i % 11) * 0.037, 3) ORDER BY i) AS kwh
                        FROM generate_series(1, meterhub_intervals($2::date)) i
                    )
                    INSERT INTO interval_reads (esiid, channel, operating_day, version,
                        is_current, interval_count, kwh, statuses, record_created_at,
                        revision_at, source_file_id, transaction_id)
                    SELECT $1 || lpad(g::text, 9, '0'), 4, $2::date, 1, true,
                           array_length(p.kwh, 1), p.kwh, repeat('A', array_length(p.kwh, 1)),
                           now(), now(), $4::uuid, 'BENCH' || g
                    FROM generate_series(1, $3::int) g, profile p
                    """,
                    prefix,
                    day,
                    count,
                    uuid.uuid4(),
                )
        await connection.execute("VACUUM ANALYZE")
        print(f"loaded in {time.perf_counter() - started:.0f} s")
    finally:
        await connection.close()


INTERVALS_FN = """
CREATE OR REPLACE FUNCTION meterhub_intervals(day date) RETURNS int LANGUAGE sql IMMUTABLE AS $$
  SELECT (extract(epoch FROM ((day + 1)::timestamp AT TIME ZONE 'America/Chicago')
          - (day::timestamp AT TIME ZONE 'America/Chicago')) / 900)::int
$$;
"""


def keys(folder: Path) -> tuple[Path, Path]:
    private, public = folder / "token-private.pem", folder / "token-public.pem"
    generate_signing_key(private, public)
    return private, public


def token(private: Path) -> str:
    issuer = TokenIssuer(private.read_bytes(), issuer="meterhub", ttl_seconds=86_400)
    return issuer.issue(Principal(uuid.uuid4(), Role.REP, REP, "bench-rep"))


WRK_SCRIPT = """
local prefix, count, path_fmt = "{prefix}", {count}, "{path}"
math.randomseed(os.time())
request = function()
  local number = math.random(1, count)
  local id = prefix .. string.format("%09d", number)
  return wrk.format("GET", string.format(path_fmt, id), {{
    ["Authorization"] = "Bearer {token}", ["Accept"] = "{accept}"}})
end
delay = function()
  return {delay_ms}
end
done = function(summary, latency, requests)
  io.write(string.format(
    "RESULT requests=%d duration_us=%d errors=%d non2xx=%d p50_us=%d p99_us=%d\\n",
    summary.requests, summary.duration,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status, latency:percentile(50), latency:percentile(99)))
end
"""


def cpu_seconds(processes: list[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def process_tree(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def cluster_cpu_seconds(cluster: PostgresCluster) -> float:
    """CPU of the bench cluster (not other clusters on the machine): its postmaster, its live
    backends, and the backends that have exited (the postmaster's reaped children), which a
    sum over live processes alone would drop or even subtract."""
    postmaster = psutil.Process(int((cluster.data_dir / "postmaster.pid").read_text().split()[0]))
    times = postmaster.cpu_times()
    reaped = times.children_user + times.children_system
    return reaped + cpu_seconds([postmaster, *postmaster.children(recursive=True)])


def run_wrk(
    base: str,
    *,
    prefix: str,
    count: int,
    path: str,
    accept: str,
    bearer: str,
    seconds: int,
    concurrency: int,
    delay_ms: int = 0,
) -> dict[str, float]:
    """wrk's closed loop (each connection sends its next request as soon as it has the
    answer) or, with ``delay_ms``, paced: each connection waits that long first."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(
            WRK_SCRIPT.format(
                prefix=prefix,
                count=count,
                path=path,
                token=bearer,
                accept=accept,
                delay_ms=delay_ms,
            )
        )
    output = subprocess.run(
        ["wrk", "-t2", f"-c{concurrency}", f"-d{seconds}s", "--latency", "-s", script.name, base],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    ).stdout
    os.unlink(script.name)
    match = re.search(r"RESULT (.*)", output)
    assert match, output
    fields = dict(part.split("=") for part in match.group(1).split())
    requests = int(fields["requests"])
    duration = int(fields["duration_us"]) / 1e6
    return {
        "rps": requests / duration,
        "p50_ms": int(fields["p50_us"]) / 1000,
        "p99_ms": int(fields["p99_us"]) / 1000,
        "errors": int(fields["errors"]) + int(fields["non2xx"]),
        "requests": requests,
    }


async def database_time(
    url: str, sql: str, args_for: list[list[object]]
) -> tuple[float, float, float]:
    """PostgreSQL's own time (EXPLAIN ANALYZE) of the statement in ms: planning plus execution
    p50 and p99, and execution alone p50. The API's prepared statements switch to a generic
    plan after five runs per connection, so a read there costs about the execution alone."""
    connection = await asyncpg.connect(url)
    try:
        times, executions = [], []
        for args in args_for:
            plan = await connection.fetchval(
                f"EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) {sql}", *args
            )
            document = json.loads(plan) if isinstance(plan, str) else plan
            times.append(document[0]["Planning Time"] + document[0]["Execution Time"])
            executions.append(document[0]["Execution Time"])
        times.sort()
        return (
            statistics.median(times),
            times[int(len(times) * 0.99) - 1],
            statistics.median(executions),
        )
    finally:
        await connection.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--esiids", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=1)
    parser.add_argument("--long-esiids", type=int, default=1_000)
    parser.add_argument("--long-days", type=int, default=40)
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument(
        "--workers", type=int, default=1, help="uvicorn worker processes (1: one pod's process)"
    )
    parser.add_argument(
        "--pool-size",
        type=int,
        default=6,
        help="read connections per API process; more only adds runnable backends on 2 cores",
    )
    parser.add_argument(
        "--paced-rate",
        type=int,
        default=1000,
        help="also measure latency with the connections paced to about this many req/s "
        "(0: closed loop only)",
    )
    parser.add_argument(
        "--paced-rate-long",
        type=int,
        default=400,
        help="the same for the 40-day reads (each is ~40x the data of a one-day read)",
    )
    parser.add_argument("--keep", action="store_true", help="leave PostgreSQL running")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is required: apt-get install wrk", file=sys.stderr)
        return 2

    cluster = PostgresCluster.in_folder(STATE / "pg", preferred_port=0)
    cluster.start()
    url = cluster.url
    migrate(url, "upgrade", "head")

    async def prepare() -> None:
        connection = await asyncpg.connect(url)
        await connection.execute(INTERVALS_FN)
        await connection.close()
        await load(url, args.esiids, args.days, args.long_esiids, args.long_days)
        await prewarm(url)

    asyncio.run(prepare())
    private, public = keys(STATE)
    bearer = token(private)
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "MH_ENVIRONMENT": "production",
        "MH_TOKEN_PUBLIC_KEY_FILE": str(public),
        "MH_USAGE_TOKEN_PRIVATE_KEY_FILE": str(private),
        "MH_USAGE_RATE_LIMIT_PER_SECOND": "1000000",
        "MH_USAGE_RATE_LIMIT_BURST": "1000000",
        "MH_USAGE_DATABASE_POOL_SIZE": str(args.pool_size),
        "MH_USAGE_LOG_LEVEL": "WARNING",
        # Reads only: the agreement and report workers would add their own load.
        "MH_USAGE_START_AGREEMENT_JOBS": "false",
        "MH_USAGE_START_REPORT_WORKER": "false",
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "meterhub_usage_api.main:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            *(["--workers", str(args.workers)] if args.workers > 1 else []),
        ],
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        day = LAST_DAY.isoformat()
        long_first = (LAST_DAY - timedelta(days=39)).isoformat()
        one_day = f"/v1/esiids/%s/intervals?start={day}&end={day}"
        forty_days = f"/v1/esiids/%s/intervals?start={long_first}&end={day}"
        check = httpx.get(
            base + one_day % esiid(SHORT_PREFIX, 1), headers={"Authorization": f"Bearer {bearer}"}
        )
        assert check.status_code == 200 and len(check.json()["days"]) == 1, check.text[:300]
        scenarios = [
            (
                "(a) 1 ESI ID x 1 day, JSON",
                SHORT_PREFIX,
                args.esiids,
                one_day,
                "application/json",
                args.paced_rate,
            ),
            (
                "(b) 1 ESI ID x 40 days, JSON",
                LONG_PREFIX,
                args.long_esiids,
                forty_days,
                "application/json",
                args.paced_rate_long,
            ),
            (
                "(c) 1 ESI ID x 1 day, CSV",
                SHORT_PREFIX,
                args.esiids,
                one_day,
                "text/csv",
                args.paced_rate,
            ),
        ]
        # Warm up caches and the connection pool.
        run_wrk(
            base,
            prefix=SHORT_PREFIX,
            count=args.esiids,
            path=one_day,
            accept="application/json",
            bearer=bearer,
            seconds=3,
            concurrency=args.concurrency,
        )
        # With --workers, uvicorn's supervisor and its worker processes.
        api = process_tree(server.pid)
        print(
            f"uvicorn workers: {args.workers}, {args.pool_size} read connections each; "
            f"load average before the runs: "
            f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
        )
        for name, prefix, count, path, accept, rate in scenarios:
            # CPU per request of the API process and of the bench cluster: unlike throughput,
            # these hold when other work shares the machine.
            drive = functools.partial(
                run_wrk,
                base,
                prefix=prefix,
                count=count,
                path=path,
                accept=accept,
                bearer=bearer,
                seconds=args.duration,
                concurrency=args.concurrency,
            )
            api_before, db_before = cpu_seconds(api), cluster_cpu_seconds(cluster)
            result = drive()
            api_ms = (cpu_seconds(api) - api_before) * 1000 / max(1, result["requests"])
            db_ms = (cluster_cpu_seconds(cluster) - db_before) * 1000 / max(1, result["requests"])
            print(
                f"{name}, closed loop: {result['rps']:.0f} req/s, p50 {result['p50_ms']:.1f} ms, "
                f"p99 {result['p99_ms']:.1f} ms, errors {result['errors']:.0f}; CPU per "
                f"request: API {api_ms:.2f} ms, PostgreSQL {db_ms:.2f} ms"
            )
            if rate and result["rps"] > rate:
                # The closed loop measures latency with the machine saturated (wrk, the API
                # and PostgreSQL share the 2 cores); paced, it is the latency while serving
                # the target rate with the same connections.
                delay_ms = 1000 * args.concurrency // rate
                paced = drive(delay_ms=delay_ms)
                print(
                    f"{name}, paced ({delay_ms} ms between a connection's requests): "
                    f"{paced['rps']:.0f} req/s, p50 {paced['p50_ms']:.1f} ms, p99 "
                    f"{paced['p99_ms']:.1f} ms, errors {paced['errors']:.0f}"
                )
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)

    from meterhub_usage_api.database import compile_named
    from meterhub_usage_api.usage.repository import intervals_sql

    statement = compile_named(intervals_sql(Role.REP, False))

    def sample_args(prefix: str, count: int, first: date) -> list[list[object]]:
        rows = []
        for number in range(1, count + 1, max(1, count // 200)):
            params = {
                "esiid": esiid(prefix, number),
                "duns": REP,
                "entity_id": uuid.uuid4(),
                "today": LAST_DAY,
                "lo": first,
                "hi": LAST_DAY + timedelta(days=1),
                "channel": 4,
            }
            rows.append(statement.args(params))
        return rows

    one = asyncio.run(
        database_time(url, statement.sql, sample_args(SHORT_PREFIX, args.esiids, LAST_DAY))
    )
    forty = asyncio.run(
        database_time(
            url,
            statement.sql,
            sample_args(LONG_PREFIX, args.long_esiids, LAST_DAY - timedelta(days=39)),
        )
    )
    print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    for what, figures in (("1 ESI ID x 1 day", one), ("1 ESI ID x 40 days", forty)):
        print(
            f"database time (planning + execution), {what}: p50 {figures[0]:.2f} ms, "
            f"p99 {figures[1]:.2f} ms; execution alone p50 {figures[2]:.2f} ms"
        )
    if not args.keep:
        cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
