"""What all three CSV kinds share: the header (file-level faults), CSV reading, line numbers,
and the activity report written page by page."""

from __future__ import annotations

import tracemalloc
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from meterhub_ingest.csvfiles import LAYOUTS, CsvFileError, CsvResultCode, register_reads
from meterhub_ingest.csvfiles import common as csv_common
from meterhub_ingest.files.report import FileRejected
from meterhub_ingest.lse.codes import ResultCode

SERVICE = Path(__file__).resolve().parents[3] / "services" / "ingest"
README = SERVICE / "README.md"
SAMPLES = SERVICE / "samples"
NOW = datetime(2026, 3, 10, 18, 0, tzinfo=UTC)
ONCOR = "1039940674000"

KINDS = ("meter-sync", "register-reads", "monthly-usage")
ESIID_1 = "10443720000000001"
READS_HEADER = "ESIID,METER_NUMBER,READ_DATE,START_READING,END_READING,KWH,RECORD_TIMESTAMP"


def read(day: int, start: int = 1, end: int = 2) -> str:
    return f"{ESIID_1},112233445,2026-03-0{day},{start},{end},{end - start},2026-03-09T00:00:00Z"


@pytest.fixture
async def synced(load_csv, sample) -> None:
    assert (await load_csv("meter-sync", sample("meter-sync"))).summary.loaded == 3


@pytest.mark.parametrize("kind", KINDS)
async def test_missing_header_column_is_f2(load_csv, sample, raw, kind) -> None:
    header, rest = sample(kind).split("\n", 1)
    dropped = header.split(",")[1]
    text = ",".join(name for name in header.split(",") if name != dropped) + "\n" + rest

    with pytest.raises(CsvFileError) as caught:
        await load_csv(kind, text)

    error = caught.value
    assert isinstance(error, FileRejected)
    assert (error.code, error.line) == ("F2", 1)
    assert f"The header lacks the {kind} column(s) {dropped}" in error.message
    assert await raw.fetchval("SELECT count(*) FROM tdsp_file_results") == 0


@pytest.mark.parametrize(
    ("header", "fragment"),
    [
        (
            READS_HEADER + ",COMMENT",
            "Header column 8 'COMMENT' is not a column of the register-reads",
        ),
        (READS_HEADER + ",kwh", "Header column KWH appears twice (columns 6 and 8)"),
        ("", "The file is empty: no header row"),
        ("\n" + READS_HEADER, "Line 1 is blank; the first line must be the register-reads header"),
    ],
)
async def test_bad_headers(load_csv, header, fragment) -> None:
    with pytest.raises(CsvFileError) as caught:
        await load_csv("register-reads", header)
    assert fragment in caught.value.message
    assert caught.value.code == ("F13" if header == "" else "F2")


async def test_header_names_are_matched_loosely_in_any_order(synced, load_csv, raw) -> None:
    text = (
        "\ufeffkwh, Meter Number ,esiid,read-date,Start_Reading,END READING,record_timestamp\r\n"
        f"1,112233445,{ESIID_1},2026-03-05,10,11,2026-03-06T03:00:00-06:00\r\n"
    )
    loaded = await load_csv("register-reads", text)

    assert loaded.codes() == {2: "00"}
    assert await raw.fetchval("SELECT end_reading FROM daily_reads") == 11


async def test_line_numbers_count_blank_lines_and_bad_csv_is_02(synced, load_csv) -> None:
    text = "\n".join(
        [READS_HEADER, read(1), "", ",,,,,,", read(2), f'{ESIID_1},"1122"33445,x', read(3), ""]
    )
    loaded = await load_csv("register-reads", text)

    assert loaded.codes() == {2: "00", 5: "00", 6: "02", 7: "00"}
    assert loaded.results[6][1] == "The row cannot be read as CSV: ',' expected after '\"'."
    assert loaded.summary.total == 4


async def test_quoted_fields_and_padding_are_read(synced, load_csv) -> None:
    text = f'{READS_HEADER}\n"{ESIID_1}", 112233445 ,2026-03-04,"1","3",2,2026-03-09T00:00:00Z\n'
    assert (await load_csv("register-reads", text)).codes() == {2: "00"}


async def test_report_is_written_in_pages(synced, load_csv, raw, monkeypatch) -> None:
    monkeypatch.setattr(csv_common, "RESULTS_PAGE", 2)
    rows = [read(day) for day in range(1, 8)]
    loaded = await load_csv("register-reads", "\n".join([READS_HEADER, *rows]))

    assert sorted(loaded.codes()) == list(range(2, 9))
    assert set(loaded.codes().values()) == {"00"}
    assert await raw.fetchval("SELECT count(*) FROM daily_reads") == 7


async def test_a_fault_of_the_line_source_mid_file_propagates(synced, raw) -> None:
    """A damaged zip found while COPY is consuming rows stops the load with that fault."""

    def lines() -> Iterator[str]:
        yield READS_HEADER
        yield read(1)
        raise FileRejected("F10", "the zip archive is damaged: bad CRC")

    with pytest.raises(FileRejected, match="bad CRC"):
        await register_reads.load(
            raw, file_id=uuid.uuid4(), sender_duns=ONCOR, lines=lines(), now=NOW
        )


async def test_loader_requires_a_transaction(engine) -> None:
    async with engine.connect() as conn:
        driver = (await conn.get_raw_connection()).driver_connection
        with pytest.raises(RuntimeError, match="inside the caller's transaction"):
            await csv_common.stage_rows(
                driver,
                csv_common.StagingTable("csv_stage_never", "SELECT 1", ()),
                lines=[READS_HEADER],
                layout=LAYOUTS["register-reads"],
                validate=lambda row: (),
                report_fields=lambda row: (None, None),
            )


async def test_memory_stays_flat_while_streaming(raw, monkeypatch) -> None:
    """Rows are parsed while COPY consumes them and results written in pages: a file of 10,000
    rows never has them all in memory (they alone would take several megabytes)."""
    monkeypatch.setattr(csv_common, "RESULTS_PAGE", 500)
    file_id = uuid.uuid4()
    await raw.execute(
        "INSERT INTO tdsp_files (id, sender_duns, kind, sha256, size_bytes, encrypted, via,"
        " status, attempts)"
        " VALUES ($1, $2, 'register-reads', $3, 1, false, 'api', 'processing', 1)",
        file_id,
        ONCOR,
        file_id.hex,
    )

    def lines() -> Iterator[str]:
        yield READS_HEADER + "\n"
        for i in range(10_000):  # unknown ESI IDs: every row is staged, checked and reported
            yield f"1044372{i:010d},M{i},2026-03-01,100.5,130.25,29.75,2026-03-02T03:00:00Z\n"

    tracemalloc.start()
    try:
        summary = await register_reads.load(
            raw, file_id=file_id, sender_duns=ONCOR, lines=lines(), now=NOW
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert (summary.total, summary.rejected) == (10_000, 10_000)
    assert (
        await raw.fetchval(
            "SELECT count(*) FROM tdsp_file_results WHERE file_id = $1 AND code = '10'", file_id
        )
        == 10_000
    )
    assert peak < 3_000_000, f"peak {peak / 1e6:.1f} MB"


def test_readme_documents_the_layouts_samples_and_codes() -> None:
    readme = README.read_text()
    for kind, layout in LAYOUTS.items():
        for number, column in enumerate(layout.columns, 1):
            required = "yes" if column.required else "no"
            row = f"| {number} | `{column.name}` | {column.type} | {required} | {column.rules} |"
            assert row in readme, f"{kind}: {row}"
        assert (SAMPLES / f"{kind}.csv").read_text() in readme, f"{kind} sample"
    for code in [*ResultCode, *CsvResultCode]:
        assert f"\n| `{code.value}` |" in readme, code
