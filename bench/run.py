"""`make bench`: every benchmark in turn, each in its own process, output into bench/out/.

    python -m bench.run [name ...]     names: ingest, parser, ftps, usage-reads, usage-report, han

Each benchmark prints rows of what, size, time, rate and the baseline measured in the same
run. They are run one at a time so that none measures another's load.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

BENCHMARKS = {
    "parser": ["bench.bench_lse_parser", "--files", "4"],
    "ingest": ["bench.bench_ingest"],
    "ftps": ["bench.bench_ftps"],
    "usage-reads": ["bench.bench_usage_reads", "--days", "7"],
    "usage-report": ["bench.bench_usage_report"],
    "han": ["bench.bench_han"],
}
OUT = Path(__file__).resolve().parent / "out"


def main() -> int:
    chosen = sys.argv[1:] or list(BENCHMARKS)
    unknown = [name for name in chosen if name not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
        return 2
    OUT.mkdir(exist_ok=True)
    failed = []
    for name in chosen:
        module, *args = BENCHMARKS[name]
        print(f"\n## {name}\n", flush=True)
        started = time.monotonic()
        with (OUT / f"{name}.txt").open("w") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", module, *args],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            assert process.stdout is not None
            for line in process.stdout:
                print(line, end="", flush=True)
                log.write(line)
            if process.wait() != 0:
                failed.append(name)
        print(f"\n({name}: {time.monotonic() - started:.0f} s wall, output in {OUT / name}.txt)")
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
