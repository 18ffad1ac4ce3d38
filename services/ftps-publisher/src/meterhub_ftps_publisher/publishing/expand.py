"""Turning the records PostgreSQL streams out into the zipped, encrypted CSV files REPs receive.

These functions run in worker processes (they are CPU-bound: a big REP's day is ~10M lines),
so they take and return plain, picklable values.

An interval file is one pipeline per REP and day, with no intermediate file: the worker
streams the records from PostgreSQL (COPY, on its own connection), expands them into CSV
lines, deflates them into the zip and writes the zip into gpg's stdin; gpg encrypts and
armors into the REP's folder under a hidden name. The backend, the worker and gpg run at
once; two builds per core keep the cores busy while one waits.

Why the expansion is here and not in SQL: PostgreSQL sends one record per row (ESI ID,
revision, the values as stored), but expanding to one row per interval inside the query
(``unnest ... WITH ORDINALITY`` plus per-row formatting) costs ~1.5 µs per CSV line in the
backend. Here the common rows go through the C module ``_csvexpand`` (~15 ns a line) and the
rest through the bytes templating of :class:`_Expander` (~60 ns a line), which is also the
whole expansion where the module could not be compiled.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import threading
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import IO, Any
from uuid import UUID

import asyncpg

from meterhub_common.pgp import Keyring
from meterhub_ftps_publisher.publishing.repository import (
    COPY_SERVER_SETTINGS,
    INTERVAL_RECORDS_SQL,
)
from meterhub_ftps_publisher.publishing.zipstream import ZipEntryWriter

try:  # compiled at install (setup.py); without a C compiler, the pure-Python expansion
    from meterhub_ftps_publisher.publishing import _csvexpand
except ImportError:  # pragma: no cover - depends on the environment
    _csvexpand = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

uvloop: Any
try:
    import uvloop
except ImportError:  # pragma: no cover - depends on the environment
    uvloop = None

INTERVAL_HEADER = (
    "ESIID,USAGE_DATE,REVISION_DATE,USAGE_START_TIME,USAGE_END_TIME,USAGE_KWH,"
    "ESTIMATED_ACTUAL,CONSUMPTION_SURPLUSGENERATION\n"
)
CHANNEL_NAMES = {"4": "Consumption", "1": "Surplus Generation"}
_FLUSH_CHARS = 4 << 20
# Interval CSV is handed to CRC32 and deflate in blocks that stay in the L2 cache: measured
# 10-15% less CPU for the zip stage than 4 MB blocks, which both read back from memory.
_CSV_BLOCK = 256 << 10


@dataclass(frozen=True, slots=True)
class BuiltFile:
    records: int
    rows: int
    esiids: int
    skipped: int
    csv_bytes: int
    zip_bytes: int


@dataclass(frozen=True, slots=True)
class IntervalFileSpec:
    """Everything a worker needs to build one REP's interval file (picklable)."""

    dsn: str
    rep_duns: str
    day: date
    file_ids: list[UUID] | None  # None: every current record of the day
    usage_date: str  # MM/DD/YYYY
    interval_times: list[tuple[str, str]]  # (start, end) labels, 92, 96 or 100 of them
    entry_name: str
    gnupg_home: str
    recipient: str  # fingerprint of the REP's key, already in the keyring
    output: str  # hidden temporary path in the REP's folder


_keyrings: dict[str, Keyring] = {}


def init_worker() -> None:
    """Runs first in each worker process."""
    # numpy (the PGP armor) would start an OpenBLAS thread per core that spins between calls;
    # a worker is one core's worth of work already. Must be set before numpy is imported.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    # Everything imported so far lives as long as the process: keep it out of collections.
    gc.freeze()


class _Session(threading.local):
    """Per worker (process, or thread in tests): one event loop and one database connection
    per DSN, kept from file to file. A new connection per file cost a backend start, a cold
    catalog cache and the backend mapping its shared memory again, every time."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.connections: dict[str, asyncpg.Connection] = {}

    def run(self, main: Coroutine[Any, Any, None]) -> None:
        if self.loop is None:
            # uvloop: the COPY stream arrives in ~5,000 socket reads per big file, and each
            # costs half as much CPU as on asyncio's own loop (measured 0.26 s against 0.48 s
            # per 125k records).
            self.loop = uvloop.new_event_loop() if uvloop is not None else asyncio.new_event_loop()
        self.loop.run_until_complete(main)

    async def connection(self, dsn: str) -> asyncpg.Connection:
        conn = self.connections.get(dsn)
        if conn is None or conn.is_closed():
            conn = await asyncpg.connect(dsn, server_settings=COPY_SERVER_SETTINGS)
            self.connections[dsn] = conn
        return conn

    def discard(self, dsn: str) -> None:
        conn = self.connections.pop(dsn, None)
        if conn is not None:
            conn.terminate()


_session = _Session()


def build_interval_file(spec: IntervalFileSpec) -> BuiltFile:
    """Write the REP's encrypted interval file to ``spec.output``.

    With no records (the REP was REP of record for none of them) the file is still written;
    the caller discards it.
    """
    keyring = _keyrings.get(spec.gnupg_home)
    if keyring is None:
        keyring = _keyrings[spec.gnupg_home] = Keyring(spec.gnupg_home)
    expander = _Expander(spec.usage_date, spec.interval_times)
    with keyring.encrypt_stream(spec.recipient, spec.output) as gpg_input:
        sink = _CsvSink(gpg_input, spec.entry_name)
        _session.run(_stream_records(spec, expander, sink))
        csv_bytes, zip_bytes = sink.close()
    return BuiltFile(
        expander.records, expander.rows, expander.esiids, expander.skipped, csv_bytes, zip_bytes
    )


async def _stream_records(spec: IntervalFileSpec, expander: _Expander, sink: _CsvSink) -> None:
    rest = b""
    received = False
    expand_rows = expander.expand_rows if _csvexpand is not None else expander.expand_lines

    async def consume(chunk: bytes) -> None:
        # COPY data arrives in chunks that split rows anywhere.
        nonlocal rest, received
        received = True
        data = rest + chunk
        end = data.rfind(b"\n") + 1
        rest = data[end:]
        expand_rows(data, end, sink)

    for attempt in (1, 2):
        conn = await _session.connection(spec.dsn)
        try:
            await conn.copy_from_query(
                INTERVAL_RECORDS_SQL,
                spec.rep_duns,
                spec.day,
                spec.file_ids,
                output=consume,
                format="text",
            )
            break
        except (OSError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError):
            # The kept connection went away while idle (a database restart, an idle timeout):
            # once, and only if nothing was read yet, start over on a new one.
            _session.discard(spec.dsn)
            if received or attempt == 2:
                raise
        except BaseException:
            # Stopped mid-COPY (a failing sink, a cancelled build): never reuse it.
            _session.discard(spec.dsn)
            raise
    if rest:
        raise RuntimeError("COPY output ended in the middle of a row")


class _CsvSink:
    """CSV bytes -> zip entry, handed over in blocks of about ``_CSV_BLOCK``.

    The block is a reusable buffer: the compiled expansion writes into it directly, and the
    zip writer reads it through a memoryview, so CSV bytes are never copied on the way.
    """

    def __init__(self, out: IO[bytes], entry_name: str) -> None:
        self._writer = ZipEntryWriter(out, entry_name)  # type: ignore[arg-type]
        # Room for a full block plus the largest record (100 lines of a 64-character ESI ID).
        self.buffer = bytearray(_CSV_BLOCK + (1 << 20))
        self.used = 0
        self.csv_bytes = 0
        self.add(INTERVAL_HEADER.encode("ascii"))

    def add(self, data: bytes) -> None:
        if self.used + len(data) > len(self.buffer):
            self.flush()
        if len(data) > len(self.buffer):
            self._writer.write(data)
            self.csv_bytes += len(data)
            return
        self.buffer[self.used : self.used + len(data)] = data
        self.used += len(data)
        if self.used >= _CSV_BLOCK:
            self.flush()

    def flush(self) -> None:
        if self.used:
            with memoryview(self.buffer) as view:
                self._writer.write(view[: self.used])
            self.csv_bytes += self.used
            self.used = 0

    def close(self) -> tuple[int, int]:
        self.flush()
        return self.csv_bytes, self._writer.close().total_size


class _Expander:
    """One COPY row (one record) -> its CSV lines, as bytes.

    Every line is ``prefix + times + value + tail`` where only the prefix (ESI ID, day,
    revision) depends on the record, only the times on the position and only the value on
    both. Per record the work is two C calls, whatever the interval count: the values string
    itself becomes the format template (each comma replaced by ``tail + prefix + %s``), and
    ``%`` fills in the day's constant times tuple. That skips splitting the values into 96
    objects, which alone cost about as much as the rest (measured ~37 ns per CSV line, against
    ~190 ns for joining 3 pieces per line). bytes, not str: bytes ``%`` is ~2x faster and
    nothing needs encoding.

    A record with mixed statuses (estimated or missing intervals) has a tail per interval;
    it takes a per-statuses template (cached) filled from the split values instead.
    """

    _MAX_TEMPLATES = 4096

    def __init__(self, usage_date: str, interval_times: list[tuple[str, str]]) -> None:
        self.usage_date = usage_date.encode("ascii")
        self.times = [f"{start},{end},".encode("ascii") for start, end in interval_times]
        self.times_tuple = tuple(self.times)
        self.expected = len(self.times)
        self.expected_text = str(self.expected).encode("ascii")
        self.tails = {
            channel.encode("ascii"): {
                ord("A"): f",A,{name}\n".encode("ascii"),
                ord("E"): f",E,{name}\n".encode("ascii"),
                ord("-"): f",,{name}\n".encode("ascii"),
            }
            for channel, name in CHANNEL_NAMES.items()
        }
        # For the compiled expansion: b"<channel><status>" -> tail, the one-status rows.
        self.common_tails = {
            channel + bytes([status]): tail
            for channel, by_status in self.tails.items()
            for status, tail in by_status.items()
        }
        self.templates: dict[tuple[bytes, bytes], bytes] = {}
        self.records = self.rows = self.esiids = self.skipped = 0
        self.last_esiid: bytes | None = None

    def expand_lines(self, data: bytes, end: int, sink: _CsvSink) -> None:
        """The CSV lines of the COPY rows in ``data[:end]`` (whole rows) into ``sink``."""
        expand = self.expand
        add = sink.add
        for line in data[:end].split(b"\n")[:-1]:
            body = expand(line)
            if body is not None:
                add(body)

    def expand_rows(self, data: bytes, end: int, sink: _CsvSink) -> None:
        """:meth:`expand_lines` by the compiled expansion: it writes the common rows (a
        known channel, one status for every interval) straight into the sink's buffer and
        stops at any other row, which :meth:`expand` then takes, so the order is kept."""
        pos = 0
        while pos < end:
            sink.used, stopped, records, esiids, self.last_esiid = _csvexpand.expand_into(
                sink.buffer,
                sink.used,
                _CSV_BLOCK,
                data,
                pos,
                end,
                self.usage_date,
                self.times_tuple,
                self.common_tails,
                self.expected,
                self.last_esiid or b"",
            )
            self.records += records
            self.rows += records * self.expected
            self.esiids += esiids
            if sink.used >= _CSV_BLOCK:
                sink.flush()
            if stopped == pos and records == 0 and stopped < end:
                # Not the common case (or larger than the room left, which the flush made):
                # this one row the Python way.
                line_end = data.index(b"\n", stopped)
                body = self.expand(data[stopped:line_end])
                if body is not None:
                    sink.add(body)
                stopped = line_end + 1
            pos = stopped

    def expand(self, line: bytes) -> bytes | None:
        """The CSV lines of one COPY row (without its newline); None if it is left out."""
        esiid, channel, revision, count, array, statuses = line.split(b"\t")
        tails = self.tails.get(channel)
        if (
            count != self.expected_text
            or len(statuses) != self.expected
            or tails is None
            or array[:1] != b"{"
            or array[-1:] != b"}"
        ):
            self._bad(esiid, channel, array)
            return None
        values = array[1:-1]  # PostgreSQL's array text: "{0.1,NULL,0.25}"
        if b"N" in values:  # a missing interval: an empty USAGE_KWH
            values = values.replace(b"NULL", b"")
        prefix = b"%s,%s,%s," % (esiid, self.usage_date, revision)
        if b"%" in prefix:
            # Never in real data (digits and dates), but it would break the templates.
            prefix = prefix.replace(b"%", b"%%")
        first = statuses[0]
        try:
            if statuses.count(first) == self.expected and first in tails:
                tail = tails[first]
                if b"%" in values:  # the same: numerics never hold one
                    values = values.replace(b"%", b"%%")
                body = (
                    b"".join((prefix, b"%s", values.replace(b",", tail + prefix + b"%s"), tail))
                    % self.times_tuple
                )
            else:
                template = self.templates.get((channel, statuses))
                if template is None:
                    if not set(statuses) <= tails.keys():
                        self._bad(esiid, channel, values)
                        return None
                    template = self._template(channel, statuses)
                body = template.replace(b"\x00", prefix) % tuple(values.split(b","))
        except TypeError:
            # The values are not one per interval: more or fewer arguments than slots.
            self._bad(esiid, channel, values)
            return None
        self.records += 1
        self.rows += self.expected
        if esiid != self.last_esiid:
            self.esiids += 1
            self.last_esiid = esiid
        return body

    def _template(self, channel: bytes, statuses: bytes) -> bytes:
        tails = self.tails[channel]
        # NUL stands for the record's prefix; "%s" for its value.
        template = b"".join(
            b"\x00" + times.replace(b"%", b"%%") + b"%s" + tails[status]
            for times, status in zip(self.times, statuses, strict=True)
        )
        if len(self.templates) >= self._MAX_TEMPLATES:
            self.templates.clear()
        self.templates[(channel, statuses)] = template
        return template

    def _bad(self, esiid: bytes, channel: bytes, values: bytes) -> None:
        # ingest checks every record against its day; a mismatch here is a bug worth a log
        # line, and must not block the REP's whole file.
        log.error(
            "record %s channel %s (%s values) does not fit a %s-interval day or has an "
            "unknown channel or status; left out",
            esiid.decode("ascii", "replace"),
            channel.decode("ascii", "replace"),
            values.count(b",") + 1,
            self.expected,
        )
        self.skipped += 1


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


def worker_ready(delay: float) -> int:
    time.sleep(delay)
    return os.getpid()


def remove_quietly(*paths: str | Path) -> None:
    for path in paths:
        Path(path).unlink(missing_ok=True)
