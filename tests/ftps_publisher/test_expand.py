"""The compiled interval expansion against the pure-Python one, on every kind of row."""

from __future__ import annotations

import io
import random
import zipfile

import pytest

from meterhub_ftps_publisher.publishing import expand
from meterhub_ftps_publisher.publishing.expand import INTERVAL_HEADER, _CsvSink, _Expander


def _times(count: int) -> list[tuple[str, str]]:
    return [
        (f"{i // 4 % 24:02d}:{i % 4 * 15:02d}", f"{(i + 1) // 4 % 24:02d}:{(i + 1) % 4 * 15:02d}")
        for i in range(count)
    ]


def _row(rng: random.Random, esiid: str, count: int) -> bytes:
    kind = rng.choice(["actual", "estimated", "missing", "mixed", "gap", "bad", "percent"])
    values = [f"{rng.randrange(0, 99999) / 10 ** rng.randrange(0, 4):g}" for _ in range(count)]
    statuses = {"actual": "A", "estimated": "E", "missing": "-"}.get(kind, "A") * count
    channel, shown_count = rng.choice(["4", "4", "1"]), str(count)
    if kind == "missing":
        values = [""] * count
    elif kind == "mixed":
        at = rng.randrange(count)
        statuses = statuses[:at] + "E" + statuses[at + 1 :]
    elif kind == "gap":
        at = rng.randrange(count)
        values[at] = ""
        statuses = statuses[:at] + "-" + statuses[at + 1 :]
    elif kind == "bad":
        channel, shown_count = rng.choice([("7", str(count)), ("4", str(count + 1))])
    elif kind == "percent":
        values[0] = "1%"
    array = "{" + ",".join(v or "NULL" for v in values) + "}"  # as PostgreSQL sends kwh
    fields = [esiid, channel, "11/01/2026 06:12:09", shown_count, array, statuses]
    return ("\t".join(fields) + "\n").encode()


def _run(
    rows: bytes, count: int, *, compiled: bool, chunk: int
) -> tuple[bytes, tuple[int, ...], int]:
    """The file's CSV, the expander's counts, and how many rows took the Python path."""
    expander = _Expander("11/01/2026", _times(count))
    one_row = expander.expand
    python_rows: list[bytes] = []

    def counted(line: bytes) -> bytes | None:
        python_rows.append(line)
        return one_row(line)

    expander.expand = counted  # type: ignore[method-assign]
    out = io.BytesIO()
    sink = _CsvSink(out, "x.csv")
    rest = b""
    expand_rows = expander.expand_rows if compiled else expander.expand_lines
    for start in range(0, len(rows), chunk):  # COPY splits rows anywhere
        data = rest + rows[start : start + chunk]
        end = data.rfind(b"\n") + 1
        rest = data[end:]
        expand_rows(data, end, sink)
    assert rest == b""
    csv_bytes, _ = sink.close()
    with zipfile.ZipFile(io.BytesIO(out.getvalue())) as archive:
        text = archive.read("x.csv")
    assert len(text) == csv_bytes
    counts = (expander.records, expander.rows, expander.esiids, expander.skipped)
    return text, counts, len(python_rows)


def test_the_compiled_expansion_was_built() -> None:
    # setup.py builds it wherever the suite runs; without it files are ~3x slower to make.
    assert expand._csvexpand is not None


@pytest.mark.parametrize("count", [92, 96, 100])
@pytest.mark.parametrize("seed", range(4))
def test_compiled_and_python_expansions_write_the_same_file(count: int, seed: int) -> None:
    rng = random.Random(seed * 1000 + count)
    esiids = sorted(f"1044372{rng.randrange(10**10):010d}" for _ in range(300))
    rows = b"".join(
        _row(rng, esiid, count) for esiid in esiids for _ in range(rng.choice([1, 1, 2]))
    )
    chunk = rng.choice([97, 4096, 20_000, 1 << 20])
    python, python_counts, _ = _run(rows, count, compiled=False, chunk=chunk)
    compiled, compiled_counts, left_to_python = _run(rows, count, compiled=True, chunk=chunk)
    assert compiled == python
    assert compiled_counts == python_counts
    assert python.startswith(INTERVAL_HEADER.encode())
    records, lines, _, skipped = python_counts
    assert skipped > 0 and records > 0 and lines == records * count
    assert python.count(b"\n") == 1 + lines
    # The one-status rows (3 of the 7 kinds) were the compiled path's; the rest Python's.
    assert 0 < left_to_python < rows.count(b"\n") * 0.8


def test_a_row_per_block_boundary_is_whole() -> None:
    # Blocks of _CSV_BLOCK go to the zip as they fill: no row may be split between writes
    # in a way that loses or repeats bytes, whatever the sizes.
    rng = random.Random(7)
    rows = b"".join(
        ("\t".join([f"1044372{n:010d}", "4", "11/01/2026 06:12:09", "96",
                    "{" + ",".join(f"{rng.random():.3f}" for _ in range(96)) + "}", "A" * 96])
         + "\n").encode()
        for n in range(2_000)
    )  # fmt: skip
    compiled, counts, left_to_python = _run(rows, 96, compiled=True, chunk=65_536)
    python, _, _ = _run(rows, 96, compiled=False, chunk=65_536)
    assert left_to_python == 0
    assert len(compiled) > 3 * expand._CSV_BLOCK
    assert compiled == python and counts == (2_000, 192_000, 2_000, 0)
