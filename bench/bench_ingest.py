"""Ingest benchmark: 50 LSE files x 50,000 records (2.5M records), zipped and encrypted, POSTed
over HTTPS with 4 concurrent uploads to a running ingest service, timed until every record is
queryable; in the same run a bare COPY of the same rows into an equivalent table.

    python -m bench.bench_ingest [--files 50] [--records 50000] [--workers 2]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import random
import time
import uuid
import zipfile
from concurrent.futures import ProcessPoolExecutor
from datetime import date, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx

from bench.common import BENCH_STATE, fresh_database, header, row, serve, tls, token_keys
from meterhub_common.auth import Principal, TokenIssuer
from meterhub_common.domain.operating_day import intervals_in_day, today_central
from meterhub_common.models.usage_api import Role
from meterhub_common.pgp import Keyring

TDSP_DUNS = "957877905"
PREFIX = "10443720"
REPS = [f"{n:09d}" for n in range(100000001, 100000021)]  # 20 REPs
VALUES = [f"{v / 1000:.3f}".rstrip("0").rstrip(".") or "0" for v in range(50, 3550, 7)]


def esiid(n: int) -> str:
    return f"{PREFIX}{n:09d}"


def rep_of(n: int) -> str:
    return REPS[n % len(REPS)]


def _file_text(file_no: int, records: int, day: date, created: str) -> tuple[str, str]:
    """One LSE file's text and the bare-COPY rows of the same records."""
    rng = random.Random(file_no)
    count = intervals_in_day(day)
    ymd = day.strftime("%Y%m%d")
    lse: list[str] = []
    copy: list[str] = []
    for r in range(records):
        n = file_no * records + r
        values = rng.choices(VALUES, k=count)
        statuses = rng.choices("AE", weights=(98, 2), k=count)
        lse.append(
            f"00000001,{esiid(n)},4,{ymd}000000,{ymd}235900,Y,N\n"
            "00000002,0,0,0,,0,,900,01,1,-1,0.0,0.0,CST\n"
            f"00000003,BENCH{n:012d}\n00000004,{created},M\n"
            f"00000030,ATTRIBUTE_VALUE_PAIRS,MRE={TDSP_DUNS},Sender={TDSP_DUNS},"
            f"Receiver=183529049,REP={rep_of(n)}\n"
        )
        for line in range(count // 4):
            cells = "".join(f"{values[i]},{statuses[i]},," for i in range(line * 4, line * 4 + 4))
            lse.append(f"{10000000 + line},{cells}\n")
        copy.append(
            f"{esiid(n)}\t4\t{day.isoformat()}\t{{{','.join(values)}}}\t{''.join(statuses)}\n"
        )
    return "".join(lse), "".join(copy)


def make_file(args: tuple[int, int, str, str, str]) -> tuple[str, str]:
    file_no, records, day_iso, folder, recipient = args
    out, copy_out = Path(folder) / f"{file_no:03d}.lse.zip.gpg", Path(folder) / f"{file_no:03d}.tsv"
    if out.exists() and copy_out.exists():
        return str(out), str(copy_out)
    day = date.fromisoformat(day_iso)
    created = (
        datetime.combine(day + timedelta(days=1), datetime.min.time()) + timedelta(hours=6)
    ).strftime("%Y%m%d%H%M%S")
    text, copy_rows = _file_text(file_no, records, day, created)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        archive.writestr(f"{TDSP_DUNS}IntervalData{day:%Y%m%d}060000{file_no:03d}.lse", text)
    sender = Keyring(BENCH_STATE / "gnupg-tdsp")
    tmp = out.with_suffix(".tmp")
    tmp.write_bytes(sender.encrypt(buffer.getvalue(), recipient, armor=False))
    tmp.rename(out)
    copy_out.write_text(copy_rows)
    return str(out), str(copy_out)


def generate(files: int, records: int, day: date, recipient: str) -> list[tuple[str, str]]:
    folder = BENCH_STATE / "files" / f"{files}x{records}-{day.isoformat()}-{recipient[:8]}"
    folder.mkdir(parents=True, exist_ok=True)
    jobs = [(i, records, day.isoformat(), str(folder), recipient) for i in range(files)]
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        return list(pool.map(make_file, jobs))


async def seed(url: str, total: int) -> None:
    conn = await asyncpg.connect(url)
    await conn.execute(
        "INSERT INTO entities (id, duns, name, role) VALUES ($1, $2, 'Bench TDSP', 'tdsp')",
        uuid.uuid4(),
        TDSP_DUNS,
    )
    await conn.execute(
        "INSERT INTO esiids (esiid, tdsp_duns, premise_type) SELECT $1 || lpad(g::text, 9, '0'),"
        " $2, 'residential' FROM generate_series(0, $3 - 1) g",
        PREFIX,
        TDSP_DUNS,
        total,
    )
    # Scratch database only: 2.5M inserts through the GiST no-overlap index take ~5 minutes of
    # setup, and these non-overlapping rows do not need the check. The loader only reads it.
    await conn.execute(
        "ALTER TABLE service_history DROP CONSTRAINT IF EXISTS service_history_no_overlap"
    )
    await conn.execute(
        "INSERT INTO service_history (esiid, start_date, rep_duns)"
        " SELECT $1 || lpad(g::text, 9, '0'), '2024-01-01', ($2::text[])[g % 20 + 1]"
        " FROM generate_series(0, $3 - 1) g",
        PREFIX,
        REPS,
        total,
    )
    await conn.execute("ANALYZE")
    await conn.close()


async def bare_copy(url: str, copies: list[str]) -> float:
    conn = await asyncpg.connect(url)
    await conn.execute(
        "CREATE UNLOGGED TABLE IF NOT EXISTS bare_intervals (esiid text, channel smallint,"
        " operating_day date, kwh text, statuses text)"
    )
    await conn.execute("TRUNCATE bare_intervals")
    start = time.perf_counter()
    for path in copies:
        await conn.copy_to_table("bare_intervals", source=path)
    elapsed = time.perf_counter() - start
    await conn.execute("DROP TABLE bare_intervals")
    await conn.close()
    return elapsed


async def upload_all(
    base: str, token: str, paths: list[str], concurrency: int, context: object
) -> list[str]:
    semaphore = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(verify=context, timeout=300) as client:  # type: ignore[arg-type]

        async def one(path: str) -> str:
            async with semaphore:
                response = await client.post(
                    f"{base}/v1/files",
                    params={"kind": "lse"},
                    content=Path(path).read_bytes(),
                    headers={
                        "Authorization": f"Bearer {token}",
                        "Content-Type": "application/octet-stream",
                    },
                )
                response.raise_for_status()
                return str(response.json()["file_id"])

        return list(await asyncio.gather(*(one(p) for p in paths)))


async def wait_done(url: str, file_ids: list[str], timeout: float = 1800) -> dict[str, int]:
    conn = await asyncpg.connect(url)
    ids = [uuid.UUID(f) for f in file_ids]
    deadline = time.monotonic() + timeout
    try:
        while True:
            row_ = await conn.fetchrow(
                "SELECT count(*) FILTER (WHERE status IN ('loaded', 'partially loaded',"
                " 'rejected')) AS done, count(*) FILTER (WHERE status <> 'loaded') AS bad,"
                " coalesce(sum(records_loaded), 0) AS loaded FROM tdsp_files"
                " WHERE id = ANY($1::uuid[])",
                ids,
            )
            if row_["done"] == len(ids):
                return dict(row_)
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {row_['done']} of {len(ids)} files done")
            await asyncio.sleep(0.05)
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=50)
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    total = args.files * args.records
    day = today_central() - timedelta(days=1)

    certs = tls()
    private, public = token_keys()
    repo_home = BENCH_STATE / "gnupg-repo"
    repository = Keyring(repo_home)
    keys = repository.gpg.list_keys(secret=True)
    fpr = keys[0]["fingerprint"] if keys else repository.generate_key("Bench repo", "r@b.test")
    Keyring(BENCH_STATE / "gnupg-tdsp").import_keys(repository.export_public(fpr))

    t = time.perf_counter()
    paths = generate(args.files + 1, args.records, day, fpr)
    print(f"# generated/cached {args.files + 1} files in {time.perf_counter() - t:.0f} s")
    _, url = fresh_database("meterhub_bench_ingest")
    t = time.perf_counter()
    asyncio.run(seed(url, (args.files + 1) * args.records))
    print(f"# seeded {(args.files + 1) * args.records} ESI IDs in {time.perf_counter() - t:.0f} s")
    issuer = TokenIssuer(private.read_bytes(), issuer="meterhub", ttl_seconds=3600)
    token = issuer.issue(Principal(uuid.uuid4(), Role.TDSP, TDSP_DUNS, "bench-tdsp"))
    env = {
        "DATABASE_URL": url,
        "MH_ENVIRONMENT": "production",
        "MH_TOKEN_PUBLIC_KEY_FILE": str(public),
        "MH_INGEST_PGP_HOME": str(repo_home),
        "MH_INGEST_SESSION_SECRET": os.urandom(16).hex(),
        "MH_INGEST_WORKERS": str(args.workers),
        "MH_INGEST_POLL_SECONDS": "1",
    }
    batch, single = [p for p, _ in paths[:-1]], paths[-1][0]
    with serve(
        "meterhub_ingest.main:create_app", env, certs, BENCH_STATE / "logs" / "ingest.log"
    ) as service:
        service.sample_memory()
        context = certs.client_context()
        start = time.perf_counter()
        ids = asyncio.run(upload_all(service.url, token, batch, args.concurrency, context))
        posted = time.perf_counter() - start
        result = asyncio.run(wait_done(url, ids))
        elapsed = time.perf_counter() - start
        # One file alone: from the POST returning to its records being queryable.
        t = time.perf_counter()
        single_id = asyncio.run(upload_all(service.url, token, [single], 1, context))
        t_posted = time.perf_counter()
        single_result = asyncio.run(wait_done(url, single_id))
        single_elapsed = time.perf_counter() - t_posted
        single_post = t_posted - t
        rss = dict(service.peak_rss)
    copy_seconds = asyncio.run(bare_copy(url, [c for _, c in paths[:-1]]))
    header()
    row(
        "ingest: LSE files POSTed over HTTPS, loaded and queryable",
        f"{args.files} files, {total:,} records",
        elapsed,
        f"{total / elapsed:,.0f} records/s",
        f"bare COPY {copy_seconds:.1f} s "
        f"({total / copy_seconds:,.0f} rows/s): ingest is {elapsed / copy_seconds:.1f}x",
    )
    row(
        "ingest: of which the 4-way concurrent POSTs",
        f"{args.files} files",
        posted,
        f"{args.files / posted:.1f} files/s",
    )
    row(
        "ingest: one 50,000-record file, POST returned -> queryable",
        f"{args.records:,}",
        single_elapsed,
        f"{args.records / single_elapsed:,.0f} records/s",
        f"POST itself {single_post:.2f} s",
    )
    mib = {k: v / 2**20 for k, v in rss.items()}
    print(f"\npeak RSS (MiB): {json.dumps({k: round(v) for k, v in mib.items()})}")
    print(
        f"loaded records: {result['loaded']:,} (+{single_result['loaded']:,}); "
        f"files not 'loaded': {result['bad']}"
    )


if __name__ == "__main__":
    main()
