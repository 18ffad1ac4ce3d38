"""Load one LSE file's records into ``interval_reads``: COPY, then set-based SQL.

Runs inside the caller's transaction, so a file's accepted records commit together or not at
all. Records are turned into COPY text as the parser yields them (``str.join`` over the
values, no per-value Python objects) and nothing but the record in hand is kept in memory:
two spool files in the load's private folder keep the COPY text of the records (wide) and one
narrow line per record (line, result of the parser, key, 00000004 timestamp).

Fast path, for the bulk case where every record is a new ESI ID, channel and day: the COPY
streams straight into ``interval_reads`` as version 1, while the parser runs, inside a
savepoint. The partial unique index on the current version makes that safe: if any record
already has a current version (or a concurrent load is writing the same key), the COPY fails,
the savepoint is rolled back and the general path takes over from the spool. Records whose
ESI ID turns out to be unknown (10) are then deleted again, which is rare.

General path: the spool is copied into a staging table and classified against the current
versions in a narrow ``decided`` table: the parser's rejections, ``10`` (ESI ID unknown or in
another TDSP's territory), ``13`` (identical values and statuses: nothing to do), ``05`` (the
current version's 00000004 timestamp is newer or equal), ``00`` (new key, or a newer record).
Current versions being replaced are superseded (``is_current`` false, ``superseded_at``) and
the new versions inserted with the next version number.

Both paths end alike: the activity report (one line per record) and the change events for
the FTPS publisher, all set-based.

Concurrency: two workers loading the same key at once cannot both win; the loser hits a unique
index or finds the current version already superseded, raises, and the pipeline retries the
file, which then sees the winner's version.
"""

from __future__ import annotations

import itertools
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import IO

import asyncpg

from meterhub_ingest.files.report import LoadSummary
from meterhub_ingest.lse.codes import ResultCode
from meterhub_ingest.lse.parser import ParsedRecord, RejectedRecord, parse_lse

log = logging.getLogger(__name__)

EnsurePartitions = Callable[[date, date], Awaitable[None]]

_COPY_BATCH = 1000
_ESCAPE = re.compile(r"[\\\t\n\r]")
_NULL = "\\N"
# The interval_reads columns, in the order of the wide spool's COPY text.
_READ_COLUMNS = (
    "esiid",
    "channel",
    "operating_day",
    "version",
    "is_current",
    "interval_count",
    "kwh",
    "statuses",
    "record_created_at",
    "revision_at",
    "superseded_at",
    "source_file_id",
    "transaction_id",
)
_KEY_COLUMNS = ("line", "code", "message", "esiid", "channel", "operating_day", "created_at")
_LOADED = ResultCode.LOADED.value
_UNCHANGED = ResultCode.UNCHANGED.value
_UNKNOWN = ResultCode.UNKNOWN_ESIID.value
# Partitions made before the fast path's COPY: the month of the file's first record and its
# neighbours. A record outside them fails the COPY, and the general path makes the rest.
_PARTITION_REACH = timedelta(days=31)


class ConcurrentUpdate(Exception):
    """Another transaction changed the same records first; the file must be loaded again."""


@dataclass(frozen=True)
class LseLoad:
    summary: LoadSummary
    counts: dict[str, int] = field(default_factory=dict)
    fast_path: bool = False
    # Seconds per phase: "stream" (parse and COPY), "classify", "write", "report".
    timings: dict[str, float] = field(default_factory=dict)


def _escape(text: str) -> str:
    if _ESCAPE.search(text) is None:
        return text
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _rejected_key(record: RejectedRecord) -> str:
    esiid = _escape(record.esiid[:64]) if record.esiid else _NULL
    channel = record.channel
    channel_text = str(channel) if channel is not None and -32768 <= channel <= 32767 else _NULL
    day = record.operating_day.isoformat() if record.operating_day is not None else _NULL
    return (
        f"{record.line}\t{record.code.value}\t{_escape(record.message)}\t{esiid}\t"
        f"{channel_text}\t{day}\t\\N\n"
    )


class _Spool:
    """Turns the parser's records into COPY text, keeping it in two files as it goes.

    ``stream()`` yields the wide COPY text for ``interval_reads`` (version 1, current) while
    writing it to ``wide``; narrow key lines go to ``keys``. ``drain()`` spools whatever the
    stream did not get to (after a failed COPY), so the spools always end up complete.
    """

    def __init__(
        self,
        records: Iterator[ParsedRecord | RejectedRecord],
        folder: Path,
        file_id: uuid.UUID,
        now: datetime,
    ) -> None:
        self._records = records
        self.wide_path = folder / "records.copy"
        self.keys_path = folder / "keys.copy"
        self._wide: IO[bytes] = self.wide_path.open("wb")
        self._keys: IO[str] = self.keys_path.open("w", encoding="utf-8", newline="")
        self._tail = f"\t{now}\t\\N\t{file_id}\t"
        self._pending: ParsedRecord | None = None
        self.parsed = 0
        self.first_day: date | None = None
        self.last_day: date | None = None
        # The texts of the day and the creation time, reused while the same objects come by
        # (the parser shares them between records with the same header rows).
        self._day: object = None
        self._day_text = ""
        self._created: object = None
        self._created_text = ""

    def peek(self) -> date | None:
        """Read up to the first well-formed record and return its day (None: there is none)."""
        for record in self._records:
            if type(record) is ParsedRecord:
                self._pending = record
                return record.operating_day
            self._keys.write(_rejected_key(record))  # type: ignore[arg-type]
        return None

    def _next_rows(self, limit: int) -> str:
        rows: list[str] = []
        append = rows.append
        keys: list[str] = []
        add_key = keys.append
        escape_needed = _ESCAPE.search
        tail = self._tail
        records: Iterable[ParsedRecord | RejectedRecord] = self._records
        if self._pending is not None:
            # itertools.chain, not a generator: a generator left behind after the break below
            # would close the parser when it is collected.
            records = itertools.chain((self._pending,), self._records)
            self._pending = None
        count = 0
        for record in records:
            if type(record) is not ParsedRecord:
                add_key(_rejected_key(record))  # type: ignore[arg-type]
                continue
            values = record.values
            try:
                kwh = ",".join(values)  # type: ignore[arg-type]
            except TypeError:  # a missing interval (None) among the values
                kwh = ",".join(["NULL" if v is None else v for v in values])
            day = record.operating_day
            if day is not self._day:
                self._day, self._day_text = day, day.isoformat()
                if self.first_day is None or day < self.first_day:
                    self.first_day = day
                if self.last_day is None or day > self.last_day:
                    self.last_day = day
            created = record.created_at
            if created is not self._created:
                self._created, self._created_text = created, str(created)
            transaction_id = record.transaction_id
            if escape_needed(transaction_id) is not None:
                transaction_id = _escape(transaction_id)
            esiid, channel, day_text, created_text = (
                record.esiid,
                record.channel,
                self._day_text,
                self._created_text,
            )
            append(
                f"{esiid}\t{channel}\t{day_text}\t1\tt\t{len(values)}\t{{{kwh}}}\t"
                f"{record.statuses}\t{created_text}{tail}{transaction_id}\n"
            )
            add_key(f"{record.line}\t\\N\t\\N\t{esiid}\t{channel}\t{day_text}\t{created_text}\n")
            count += 1
            if count >= limit:
                break
        self.parsed += count
        if keys:
            self._keys.write("".join(keys))
        return "".join(rows)

    async def stream(self) -> AsyncIterator[bytes]:
        while True:
            chunk = self._next_rows(_COPY_BATCH).encode()
            if not chunk:
                return
            self._wide.write(chunk)
            yield chunk

    def drain(self) -> None:
        while chunk := self._next_rows(_COPY_BATCH * 10).encode():
            self._wide.write(chunk)
        self.close()

    def close(self) -> None:
        self._wide.close()
        self._keys.close()


async def load_lse(
    conn: asyncpg.Connection,
    *,
    file_id: uuid.UUID,
    sender_duns: str,
    lines: Iterable[str],
    now: datetime,
    today: date,
    source: str,
    max_records: int,
    ensure_partitions: EnsurePartitions,
    spool_dir: Path,
) -> LseLoad:
    """Parse and load an LSE file; raises ``LseFileError`` / ``FileRejected`` for file faults.

    ``now`` is the revision time stamped on new versions and on those they supersede.
    ``ensure_partitions(first_day, last_day)`` makes month partitions exist; it is called
    before this transaction touches ``interval_reads``. ``spool_dir`` is a private folder
    for the spool files.
    """
    clock = time.perf_counter()
    timings: dict[str, float] = {}
    records = iter(
        parse_lse(
            lines, sender_duns=sender_duns, today=today, source=source, max_records=max_records
        )
    )
    spool = _Spool(records, spool_dir, file_id, now)
    fast = False
    try:
        first = spool.peek()
        if first is not None:
            await ensure_partitions(first - _PARTITION_REACH, first + _PARTITION_REACH)
            try:
                async with conn.transaction():
                    await conn.copy_to_table(
                        "interval_reads",
                        source=spool.stream(),
                        columns=_READ_COLUMNS,
                        format="text",
                    )
                fast = True
            except (asyncpg.UniqueViolationError, asyncpg.CheckViolationError) as exc:
                # Some record already has a current version, or falls outside the partitions.
                log.debug("file %s takes the general path: %s", file_id, exc)
        spool.drain()
    finally:
        spool.close()
    await conn.execute(
        """
        CREATE TEMP TABLE ingest_keys (
            line integer NOT NULL,
            code text,
            message text,
            esiid text,
            channel smallint,
            operating_day date,
            created_at timestamptz
        ) ON COMMIT DROP
        """
    )
    await conn.copy_to_table(
        "ingest_keys", source=spool.keys_path, columns=_KEY_COLUMNS, format="text"
    )
    first_day = spool.first_day or today
    last_day = spool.last_day or today
    timings["stream"] = time.perf_counter() - clock

    if fast:
        counts, replacing = await _classify_new(conn, sender_duns, timings)
        if counts.get(_UNKNOWN):
            await conn.execute(
                """
                DELETE FROM interval_reads r USING ingest_decided d
                 WHERE d.code = '10' AND d.line IS NOT NULL
                   AND r.esiid = d.esiid AND r.channel = d.channel
                   AND r.operating_day = d.operating_day AND r.source_file_id = $1
                   AND r.operating_day BETWEEN $2 AND $3
                """,
                file_id,
                first_day,
                last_day,
            )
    else:
        if spool.parsed:
            await ensure_partitions(first_day, last_day)
        await conn.execute("CREATE TEMP TABLE ingest_stage (LIKE interval_reads) ON COMMIT DROP")
        await conn.copy_to_table(
            "ingest_stage", source=spool.wide_path, columns=_READ_COLUMNS, format="text"
        )
        await conn.execute("CREATE INDEX ON ingest_stage (esiid, channel, operating_day)")
        counts, replacing = await _classify_against_current(
            conn, sender_duns, first_day, last_day, timings
        )
        await _write_versions(conn, file_id, now, first_day, last_day, counts, replacing)
    timings["write"] = time.perf_counter() - clock - timings["stream"] - timings["classify"]

    await _report(conn, file_id, sender_duns, loaded=counts.get(_LOADED, 0))
    await conn.execute(
        "DROP TABLE ingest_keys; DROP TABLE ingest_decided; DROP TABLE IF EXISTS ingest_stage"
    )
    timings["report"] = time.perf_counter() - clock - sum(timings.values())
    total = sum(counts.values())
    loaded = counts.get(_LOADED, 0)
    unchanged = counts.get(_UNCHANGED, 0)
    return LseLoad(
        summary=LoadSummary(
            total=total, loaded=loaded, rejected=total - loaded - unchanged, unchanged=unchanged
        ),
        counts=counts,
        fast_path=fast,
        timings={name: round(seconds, 3) for name, seconds in timings.items()},
    )


async def _tally(conn: asyncpg.Connection) -> tuple[dict[str, int], int]:
    rows = await conn.fetch(
        "SELECT code, count(*) AS n, count(current_version) AS replacing "
        "FROM ingest_decided GROUP BY code"
    )
    counts = {row["code"]: int(row["n"]) for row in rows}
    replacing = sum(int(row["replacing"]) for row in rows if row["code"] == _LOADED)
    return counts, replacing


async def _classify_new(
    conn: asyncpg.Connection, sender_duns: str, timings: dict[str, float]
) -> tuple[dict[str, int], int]:
    """Fast path: every record was new, so only the territory is left to check."""
    started = time.perf_counter()
    await conn.execute("SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off")
    await conn.execute(
        """
        CREATE TEMP TABLE ingest_decided ON COMMIT DROP AS
        SELECT k.line, k.esiid, k.channel, k.operating_day, k.created_at, k.message,
               CASE WHEN k.code IS NOT NULL THEN k.code
                    WHEN e.esiid IS NULL THEN '10'
                    ELSE '00' END AS code,
               NULL::integer AS current_version,
               NULL::timestamptz AS current_created_at
        FROM ingest_keys k
        LEFT JOIN esiids e ON k.code IS NULL AND e.esiid = k.esiid AND e.tdsp_duns = $1
        """,
        sender_duns,
    )
    await conn.execute("SET LOCAL enable_hashjoin = on; SET LOCAL enable_mergejoin = on")
    result = await _tally(conn)
    timings["classify"] = time.perf_counter() - started
    return result


async def _classify_against_current(
    conn: asyncpg.Connection,
    sender_duns: str,
    first_day: date,
    last_day: date,
    timings: dict[str, float],
) -> tuple[dict[str, int], int]:
    started = time.perf_counter()
    # One file's records against indexes on big tables: an index nested loop is the right plan
    # whatever the statistics say; a hash join over a whole month partition is the wrong one.
    await conn.execute("SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off")
    await conn.execute(
        """
        CREATE TEMP TABLE ingest_decided ON COMMIT DROP AS
        SELECT k.line, k.esiid, k.channel, k.operating_day, k.created_at, k.message,
               CASE
                   WHEN k.code IS NOT NULL THEN k.code
                   WHEN e.esiid IS NULL THEN '10'
                   WHEN c.version IS NULL THEN '00'
                   WHEN c.kwh = s.kwh AND c.statuses = s.statuses THEN '13'
                   WHEN k.created_at > c.record_created_at THEN '00'
                   ELSE '05'
               END AS code,
               c.version AS current_version,
               c.record_created_at AS current_created_at
        FROM ingest_keys k
        LEFT JOIN esiids e
               ON k.code IS NULL AND e.esiid = k.esiid AND e.tdsp_duns = $1
        LEFT JOIN interval_reads c
               ON k.code IS NULL AND e.esiid IS NOT NULL
              AND c.esiid = k.esiid AND c.channel = k.channel
              AND c.operating_day = k.operating_day AND c.is_current
              AND c.operating_day BETWEEN $2 AND $3
        LEFT JOIN ingest_stage s
               ON c.version IS NOT NULL
              AND s.esiid = k.esiid AND s.channel = k.channel
              AND s.operating_day = k.operating_day
        """,
        sender_duns,
        first_day,
        last_day,
    )
    await conn.execute("SET LOCAL enable_hashjoin = on; SET LOCAL enable_mergejoin = on")
    result = await _tally(conn)
    timings["classify"] = time.perf_counter() - started
    return result


async def _write_versions(
    conn: asyncpg.Connection,
    file_id: uuid.UUID,
    now: datetime,
    first_day: date,
    last_day: date,
    counts: dict[str, int],
    replacing: int,
) -> None:
    if not counts.get(_LOADED):
        return
    if replacing:
        await conn.execute("SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off")
        superseded = await conn.execute(
            """
            UPDATE interval_reads c
               SET is_current = false, superseded_at = $1
              FROM ingest_decided d
             WHERE d.code = '00' AND d.current_version IS NOT NULL
               AND c.esiid = d.esiid AND c.channel = d.channel
               AND c.operating_day = d.operating_day AND c.version = d.current_version
               AND c.is_current AND c.operating_day BETWEEN $2 AND $3
            """,
            now,
            first_day,
            last_day,
        )
        await conn.execute("SET LOCAL enable_hashjoin = on; SET LOCAL enable_mergejoin = on")
        if int(superseded.split()[-1]) != replacing:
            raise ConcurrentUpdate(f"file {file_id}: current versions changed while loading")
    await conn.execute(
        """
        INSERT INTO interval_reads (
            esiid, channel, operating_day, version, is_current, interval_count, kwh,
            statuses, record_created_at, revision_at, superseded_at, source_file_id,
            transaction_id
        )
        SELECT s.esiid, s.channel, s.operating_day, coalesce(d.current_version, 0) + 1,
               true, s.interval_count, s.kwh, s.statuses, s.record_created_at,
               s.revision_at, NULL, s.source_file_id, s.transaction_id
        FROM ingest_stage s
        JOIN ingest_decided d
          ON d.code = '00' AND d.esiid = s.esiid AND d.channel = s.channel
         AND d.operating_day = s.operating_day
        """
    )


async def _report(
    conn: asyncpg.Connection, file_id: uuid.UUID, sender_duns: str, *, loaded: int
) -> None:
    await conn.execute(
        """
        INSERT INTO tdsp_file_results (file_id, line, code, message, esiid, channel, operating_day)
        SELECT $1, d.line, d.code,
               CASE d.code
                   WHEN '00' THEN CASE
                       WHEN d.current_version IS NULL THEN 'loaded as version 1'
                       ELSE format('loaded as version %s, replacing version %s created %s',
                                   d.current_version + 1, d.current_version,
                                   to_char(d.current_created_at AT TIME ZONE
                                           'America/Chicago', 'YYYY-MM-DD HH24:MI:SS'))
                   END
                   WHEN '10' THEN format(
                       'line %s: ESI ID %s is unknown or not in the territory of TDSP %s',
                       d.line, d.esiid, $2::text)
                   WHEN '13' THEN format(
                       'line %s: identical to the current version %s; nothing changed',
                       d.line, d.current_version)
                   WHEN '05' THEN format(
                       'line %s: version %s (created %s) is already loaded and this record '
                       '(created %s) is not newer; not loaded',
                       d.line, d.current_version,
                       to_char(d.current_created_at AT TIME ZONE 'America/Chicago',
                               'YYYY-MM-DD HH24:MI:SS'),
                       to_char(d.created_at AT TIME ZONE 'America/Chicago',
                               'YYYY-MM-DD HH24:MI:SS'))
                   ELSE d.message
               END,
               d.esiid, d.channel, d.operating_day
        FROM ingest_decided d
        """,
        file_id,
        sender_duns,
    )
    if not loaded:
        return
    # The REP of record: the service period that started last on or before the day, if it
    # has not ended (periods never overlap). The row comparisons bound one ESI ID's periods
    # and only a btree can use them, so each probe is one step down the primary key; with a
    # plain join the planner may pick the GiST exclusion index, some 20 times slower a probe.
    await conn.execute(
        """
        INSERT INTO usage_change_events
            (file_id, rep_duns, operating_day, kind, supplemental, esiid_count)
        SELECT $1, h.rep_duns, d.operating_day, 'lse', d.current_version IS NOT NULL,
               count(DISTINCT d.esiid)
        FROM ingest_decided d
        CROSS JOIN LATERAL (
            SELECT s.rep_duns, s.end_date
              FROM service_history s
             WHERE (s.esiid, s.start_date) <= (d.esiid, d.operating_day)
               AND (s.esiid, s.start_date) >= (d.esiid, DATE '-infinity')
             ORDER BY s.esiid DESC, s.start_date DESC
             LIMIT 1
        ) h
        WHERE d.code = '00' AND (h.end_date IS NULL OR d.operating_day < h.end_date)
        GROUP BY h.rep_duns, d.operating_day, d.current_version IS NOT NULL
        """,
        file_id,
    )
