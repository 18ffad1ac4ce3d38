"""Turning the records PostgreSQL streams out into the zipped CSV files REPs receive.

These functions run in worker processes (they are CPU-bound: a big REP's day is ~10M lines),
so they take and return plain, picklable values and import nothing heavy.

Why the expansion is here and not in SQL: PostgreSQL formats one record per row (ESI ID,
revision, the 96 values joined by commas) at ~80k records/s, but expanding to one row per
interval inside the query (``unnest ... WITH ORDINALITY`` plus per-row formatting) costs
~1.5 µs per CSV line in the backend, ~7x slower than the C-level join below.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import chain, repeat
from pathlib import Path

from meterhub_ftps_publisher.publishing.zipstream import ZipEntryWriter

log = logging.getLogger(__name__)

INTERVAL_HEADER = (
    "ESIID,USAGE_DATE,REVISION_DATE,USAGE_START_TIME,USAGE_END_TIME,USAGE_KWH,"
    "ESTIMATED_ACTUAL,CONSUMPTION_SURPLUSGENERATION\n"
)
CHANNEL_NAMES = {"4": "Consumption", "1": "Surplus Generation"}
_FLUSH_CHARS = 4 << 20


@dataclass(frozen=True, slots=True)
class BuiltFile:
    records: int
    rows: int
    esiids: int
    skipped: int
    csv_bytes: int
    zip_bytes: int


def expand_interval_records(
    records_path: str,
    zip_path: str,
    entry_name: str,
    usage_date: str,
    interval_times: list[tuple[str, str]],
) -> BuiltFile:
    """Write the SMT interval CSV for the records in ``records_path`` into a new zip.

    ``records_path`` holds PostgreSQL COPY text rows: esiid, channel, revision (formatted),
    interval_count, values joined by ',' (NULL as empty), statuses (one character each),
    already ordered by ESI ID and channel. ``interval_times`` are the day's (start, end)
    labels in interval order (92, 96 or 100 of them).
    """
    middles = [f"{start},{end}," for start, end in interval_times]
    channel_tails = {
        channel: {"A": f",A,{name}\n", "E": f",E,{name}\n", "-": f",,{name}\n"}
        for channel, name in CHANNEL_NAMES.items()
    }
    expected = len(middles)
    records = rows = esiids = skipped = csv_bytes = 0
    last_esiid = None
    pending: list[str] = [INTERVAL_HEADER]
    pending_chars = len(INTERVAL_HEADER)
    with open(zip_path, "wb") as out, open(records_path, encoding="ascii") as src:
        writer = ZipEntryWriter(out, entry_name)
        for line in src:
            esiid, channel, revision, count, values, statuses = line.rstrip("\n").split("\t")
            kwh = values.split(",")
            if int(count) != expected or len(kwh) != expected or len(statuses) != expected:
                # ingest checks every record against its day; a mismatch here is a bug worth
                # a log line, and must not block the REP's whole file.
                log.error(
                    "record %s channel %s has %s values for a %s-interval day; left out",
                    esiid,
                    channel,
                    len(kwh),
                    expected,
                )
                skipped += 1
                continue
            tails = channel_tails.get(channel)
            if tails is None or not set(statuses) <= tails.keys():
                log.error("record %s has an unknown channel or status; left out", esiid)
                skipped += 1
                continue
            prefix = f"{esiid},{usage_date},{revision},"
            # Each line is prefix + times + value + tail. Joining "times, value, tail+prefix"
            # triples (the next line's prefix rides on this line's tail) halves the pieces
            # the C-level join walks through; the last line's tail carries no prefix.
            first = statuses[0]
            if statuses.count(first) == expected:
                tail_iter: Iterator[str] = chain(
                    repeat(tails[first] + prefix, expected - 1), (tails[first],)
                )
            else:
                joined = {status: tail + prefix for status, tail in tails.items()}
                tail_iter = chain(map(joined.__getitem__, statuses[:-1]), (tails[statuses[-1]],))
            body = "".join(chain.from_iterable(zip(middles, kwh, tail_iter, strict=True)))
            pending.append(prefix)
            pending.append(body)
            pending_chars += len(prefix) + len(body)
            records += 1
            rows += expected
            if esiid != last_esiid:
                esiids += 1
                last_esiid = esiid
            if pending_chars >= _FLUSH_CHARS:
                data = "".join(pending).encode("ascii")
                csv_bytes += len(data)
                writer.write(data)
                pending, pending_chars = [], 0
        data = "".join(pending).encode("ascii")
        csv_bytes += len(data)
        writer.write(data)
        result = writer.close()
    return BuiltFile(records, rows, esiids, skipped, csv_bytes, result.total_size)


def zip_csv_file(csv_path: str, zip_path: str, entry_name: str) -> BuiltFile:
    """Zip a CSV file with a header line that PostgreSQL already formatted (daily reads,
    ad-hoc reports); counts its rows and distinct first-column values."""
    rows = esiids = csv_bytes = 0
    last_key = None
    with open(zip_path, "wb") as out, open(csv_path, "rb") as src:
        writer = ZipEntryWriter(out, entry_name)
        header = src.readline()
        writer.write(header)
        csv_bytes += len(header)
        batch: list[bytes] = []
        batch_bytes = 0
        for line in src:
            rows += 1
            key = line.split(b",", 1)[0]
            if key != last_key:
                esiids += 1
                last_key = key
            batch.append(line)
            batch_bytes += len(line)
            if batch_bytes >= _FLUSH_CHARS:
                writer.write(b"".join(batch))
                csv_bytes += batch_bytes
                batch, batch_bytes = [], 0
        writer.write(b"".join(batch))
        csv_bytes += batch_bytes
        result = writer.close()
    return BuiltFile(rows, rows, esiids, 0, csv_bytes, result.total_size)


def zip_any_file(src_path: str, zip_path: str, entry_name: str) -> int:
    """Zip an arbitrary file as one entry (ad-hoc deliveries); returns the zip's size."""
    with open(zip_path, "wb") as out, open(src_path, "rb") as src:
        writer = ZipEntryWriter(out, entry_name)
        while chunk := src.read(_FLUSH_CHARS):
            writer.write(chunk)
        return writer.close().total_size


def remove_quietly(*paths: str | Path) -> None:
    for path in paths:
        Path(path).unlink(missing_ok=True)
