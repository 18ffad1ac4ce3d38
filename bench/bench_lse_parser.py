"""Micro-benchmark of the LSE parser (not a test).

Generates N realistic records (5 header rows and 24 detail rows each, a few DST days among
them) with ``synthetic_record`` and ``render_lse``, writes them to an LSE file, and times
``parse_lse`` reading that file, one core; optionally also F parses of the file spread over W
worker processes, to check the "2.5 million records well under a minute on 2 cores" figure.

    PYTHONPATH=libs/common/src:services/ingest/src .venv/bin/python bench/bench_lse_parser.py
    ... bench/bench_lse_parser.py --records 50000 --repeat 5 --files 50 --workers 2

Timing is process CPU time (best of --repeat), which shared, noisy machines distort less than
wall time; the multi-process run reports wall time.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from meterhub_ingest.lse import (
    ParsedRecord,
    RejectedRecord,
    parse_lse,
    render_lse,
    synthetic_record,
)

SENDER = "666666666"  # the TDSP of ERCOT's sample record
TODAY = date(2026, 11, 23)
FIRST_DAY = date(2026, 10, 1)


def _records(count: int, pool_size: int, seed: int) -> Iterator[ParsedRecord]:
    """``count`` records with distinct (ESI ID, channel, day) keys.

    Making every record from scratch costs far more than parsing it, so a pool of distinct
    synthetic records is reused under new ESI IDs and days; the values stay realistic.
    """
    rng = random.Random(seed)
    created = datetime(2026, 11, 2, 6, 30, tzinfo=UTC)
    days = [FIRST_DAY + timedelta(days=i) for i in range(40)]  # includes 2026-11-01 (100)
    pool = [
        synthetic_record(
            f"10443720{i:09d}",
            4 if i % 10 else 1,
            days[i % len(days)],
            created_at=created,
            rng=rng,
            sender=SENDER,
            rep=f"{100000000 + i % 37:09d}",
        )
        for i in range(min(pool_size, count))
    ]
    for i in range(count):
        template = pool[i % len(pool)]
        yield replace(template, esiid=f"10443720{i:09d}")


def _write(path: Path, count: int, pool_size: int, seed: int) -> tuple[int, int]:
    lines = 0
    with path.open("w", encoding="ascii", newline="\n") as handle:
        for line in render_lse(_records(count, pool_size, seed)):
            handle.write(line)
            handle.write("\n")
            lines += 1
    return lines, path.stat().st_size


def _parse_file(path: str) -> tuple[int, int, float]:
    parsed = rejected = 0
    started = time.process_time()
    with open(path, encoding="ascii") as handle:
        for result in parse_lse(handle, sender_duns=SENDER, today=TODAY, source=path):
            if isinstance(result, RejectedRecord):
                rejected += 1
            else:
                parsed += 1
    return parsed, rejected, time.process_time() - started


def main() -> int:
    options = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    options.add_argument("--records", type=int, default=50_000)
    options.add_argument("--pool", type=int, default=2_000, help="distinct generated records")
    options.add_argument("--repeat", type=int, default=5)
    options.add_argument("--files", type=int, default=0, help="parses for the multi-core run")
    options.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    options.add_argument("--seed", type=int, default=20101116)
    args = options.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-lse-") as folder:
        path = Path(folder) / f"{SENDER}IntervalData20261102063000001.lse"
        started = time.perf_counter()
        lines, size = _write(path, args.records, args.pool, args.seed)
        print(
            f"LSE parser benchmark, Python {platform.python_version()}, {os.cpu_count()} CPUs\n"
            f"  file: {args.records:,} records, {lines:,} lines, {size / 1e6:.1f} MB "
            f"(generated in {time.perf_counter() - started:.1f} s)"
        )

        seconds = []
        for _ in range(args.repeat):
            parsed, rejected, elapsed = _parse_file(str(path))
            if parsed != args.records or rejected:
                print(f"unexpected result: {parsed} parsed, {rejected} rejected", file=sys.stderr)
                return 1
            seconds.append(elapsed)
        best, median = min(seconds), statistics.median(seconds)
        print(
            f"  parse, 1 core: {args.records / best:,.0f} records/s "
            f"(best {best:.2f} s, median {median:.2f} s = {args.records / median:,.0f}/s)"
        )

        if args.files:
            total = args.records * args.files
            started = time.perf_counter()
            with ProcessPoolExecutor(max_workers=args.workers) as pool:
                done = list(pool.map(_parse_file, [str(path)] * args.files))
            wall = time.perf_counter() - started
            if any(parsed != args.records for parsed, _, _ in done):
                print("unexpected result in a worker", file=sys.stderr)
                return 1
            print(
                f"  parse, {args.workers} workers: {total:,} records in {wall:.1f} s wall "
                f"= {total / wall:,.0f} records/s"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
