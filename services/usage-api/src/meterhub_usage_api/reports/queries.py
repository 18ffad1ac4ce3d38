"""The SQL that builds report files, joined to the access rules inside the one statement.

Each chunk statement reads the chunk's ESI IDs (``:esiids``, in request order) and the
requester's visible periods from ``access.repository`` (the same rules as every read), and
returns only days the requester may see. CSV statements return the file's lines as columns
for ``COPY ... TO STDOUT (FORMAT csv)``: PostgreSQL formats the dates and times, so the
interval CSV of 50,000 ESI IDs never passes through Python row by row.

Interval times follow SMT's layout: HH:MM in Central prevailing time from each interval's
start instant (local midnight plus 15 minutes per position, so DST days come out right),
the last interval of a day ends 00:00, and the fall-back day has 100 rows (01:00-01:45 twice).
The labels are computed once per day in ``days``, not per row.
"""

from __future__ import annotations

from functools import lru_cache

from meterhub_common.models.usage_api import Role
from meterhub_usage_api.access.repository import visible_periods_sql

CHANNEL_LABEL_SQL = "CASE ir.channel WHEN 4 THEN 'Consumption' ELSE 'Surplus Generation' END"
REVISION_SQL = "to_char({col} AT TIME ZONE 'America/Chicago', 'MM/DD/YYYY HH24:MI:SS')"


def _ctes(role: Role) -> str:
    return f"""
chunk AS (
    SELECT c.esiid, c.position FROM unnest(CAST(:esiids AS text[])) WITH ORDINALITY
        AS c(esiid, position)
),
visible AS (
{visible_periods_sql(role, many=True)}
),
periods AS (
    SELECT v.esiid, GREATEST(v.from_day, :lo) AS lo, LEAST(v.to_day, :hi) AS hi FROM visible v
    WHERE GREATEST(v.from_day, :lo) < LEAST(v.to_day, :hi)
)"""  # noqa: S608 (fixed fragments)


def _in_periods(day: str) -> str:
    return (
        "EXISTS (SELECT 1 FROM periods p WHERE p.esiid = c.esiid"  # noqa: S608 (fixed fragments)
        f" AND {day} >= p.lo AND {day} < p.hi)"
    )


@lru_cache(maxsize=32)
def interval_csv_sql(role: Role, all_versions: bool) -> str:
    # Records are put in file order first (a few thousand rows); the nested loops below keep
    # that order, so the final ORDER BY only sorts each record's intervals (an incremental
    # sort of ~100 rows) instead of spilling hundreds of thousands of lines to disk.
    current = "" if all_versions else " AND ir.is_current"
    step = "interval '15 minutes'"
    local = "'America/Chicago'"
    series = (
        f"generate_series(d AT TIME ZONE {local},"
        f" (d + interval '1 day') AT TIME ZONE {local} - {step}, {step}) t"
    )
    return f"""
WITH {_ctes(role)},
days AS MATERIALIZED (
    SELECT d::date AS day,
           ARRAY(SELECT to_char(t AT TIME ZONE {local}, 'HH24:MI') FROM {series}) AS starts,
           ARRAY(SELECT to_char((t + {step}) AT TIME ZONE {local}, 'HH24:MI') FROM {series})
               AS ends
    FROM generate_series(CAST(:lo AS date)::timestamp,
                         CAST(:hi AS date)::timestamp - interval '1 day', interval '1 day') d
),
records AS MATERIALIZED (
    SELECT c.position, c.esiid, ir.operating_day, ir.channel, ir.version, ir.kwh, ir.statuses,
           {REVISION_SQL.format(col="ir.revision_at")} AS revision, {CHANNEL_LABEL_SQL} AS label
    FROM chunk c
    JOIN interval_reads ir ON ir.esiid = c.esiid AND ir.operating_day >= :lo
         AND ir.operating_day < :hi{current}
    WHERE {_in_periods("ir.operating_day")}
)
SELECT r.esiid, to_char(r.operating_day, 'MM/DD/YYYY'), r.revision, u.s, u.e, u.k::text,
       CASE WHEN u.k IS NOT NULL AND u.f IN ('A', 'E') THEN u.f END, r.label
FROM (SELECT * FROM records
      ORDER BY position, operating_day, channel DESC, version DESC) r
CROSS JOIN LATERAL unnest(
    r.kwh::text[], string_to_array(r.statuses, NULL),
    (SELECT days.starts FROM days WHERE days.day = r.operating_day),
    (SELECT days.ends FROM days WHERE days.day = r.operating_day)
) WITH ORDINALITY AS u(k, f, s, e, n)
ORDER BY r.position, r.operating_day, r.channel DESC, r.version DESC, u.n"""  # noqa: S608


@lru_cache(maxsize=32)
def daily_csv_sql(role: Role, all_versions: bool) -> str:
    current = "" if all_versions else " AND d.is_current"
    return f"""
WITH {_ctes(role)}
SELECT c.esiid, to_char(d.read_date, 'MM/DD/YYYY'), {REVISION_SQL.format(col="d.revision_at")},
       d.meter_number, d.start_reading::text, d.end_reading::text, d.kwh::text
FROM chunk c
JOIN daily_reads d ON d.esiid = c.esiid AND d.read_date >= :lo AND d.read_date < :hi{current}
WHERE {_in_periods("d.read_date")}
ORDER BY c.position, d.read_date, d.meter_number, d.version DESC"""  # noqa: S608


@lru_cache(maxsize=32)
def monthly_csv_sql(role: Role, all_versions: bool) -> str:
    # As in the synchronous read: a billing period is reported only if it lies wholly inside
    # one visible period, so nobody sees a bill that began under someone else.
    current = "" if all_versions else " AND m.is_current"
    return f"""
WITH {_ctes(role)},
whole AS (SELECT v.esiid, GREATEST(v.from_day, :floor) AS lo, v.to_day AS hi FROM visible v)
SELECT c.esiid, m.meter_number, to_char(m.period_start, 'MM/DD/YYYY'),
       to_char(m.period_end, 'MM/DD/YYYY'), {REVISION_SQL.format(col="m.revision_at")},
       m.kwh::text, m.demand_kw::text
FROM chunk c
JOIN monthly_usage m ON m.esiid = c.esiid AND m.period_start >= :lo
     AND m.period_start < :hi{current}
WHERE EXISTS (SELECT 1 FROM whole w WHERE w.esiid = c.esiid
              AND m.period_start >= w.lo AND m.period_end <= w.hi)
ORDER BY c.position, m.period_start, m.meter_number, m.version DESC"""  # noqa: S608


@lru_cache(maxsize=32)
def lse_records_sql(role: Role, all_versions: bool) -> str:
    current = "" if all_versions else " AND ir.is_current"
    return f"""
WITH {_ctes(role)}
SELECT c.esiid, ir.channel, ir.operating_day, ir.version, ir.kwh::text[] AS kwh, ir.statuses,
       ir.record_created_at, ir.transaction_id, e.tdsp_duns
FROM chunk c
JOIN esiids e ON e.esiid = c.esiid
JOIN interval_reads ir ON ir.esiid = c.esiid AND ir.operating_day >= :lo
     AND ir.operating_day < :hi{current}
WHERE {_in_periods("ir.operating_day")}
ORDER BY c.position, ir.operating_day, ir.channel DESC, ir.version DESC"""  # noqa: S608


@lru_cache(maxsize=32)
def scope_sql(role: Role) -> str:
    """Mark each requested ESI ID included (some visible day in range) or excluded."""
    return f"""
WITH visible AS (
{visible_periods_sql(role, many=True)}
),
seen AS (
    SELECT DISTINCT v.esiid FROM visible v
    WHERE GREATEST(v.from_day, :lo) < LEAST(v.to_day, :hi)
)
UPDATE report_esiids r SET included = EXISTS (SELECT 1 FROM seen s WHERE s.esiid = r.esiid)
WHERE r.report_id = :report_id"""  # noqa: S608


_RECORD_COUNTS = {
    "interval": (
        "SELECT c.esiid, count(*) AS n FROM chunk c JOIN interval_reads ir ON ir.esiid = c.esiid"
        " AND ir.operating_day >= :lo AND ir.operating_day < :hi{current_ir}"
        " WHERE {in_ir} GROUP BY c.esiid"
    ),
    "daily": (
        "SELECT c.esiid, count(*) AS n FROM chunk c JOIN daily_reads d ON d.esiid = c.esiid"
        " AND d.read_date >= :lo AND d.read_date < :hi{current_d} WHERE {in_d} GROUP BY c.esiid"
    ),
    "monthly": (
        "SELECT c.esiid, count(*) AS n FROM chunk c JOIN monthly_usage m ON m.esiid = c.esiid"
        " AND m.period_start >= :lo AND m.period_start < :hi{current_m}"
        " WHERE EXISTS (SELECT 1 FROM visible w WHERE w.esiid = c.esiid"
        " AND m.period_start >= GREATEST(w.from_day, :floor) AND m.period_end <= w.to_day)"
        " GROUP BY c.esiid"
    ),
}


@lru_cache(maxsize=32)
def audit_sql(role: Role, report_type: str, all_versions: bool) -> str:
    """The read audit of a delivered report: one row per requested ESI ID (404 if excluded),
    with the records it contributed, as the synchronous reads count them (days, reads or
    billing periods). ``:esiids`` holds the included ESI IDs."""
    counted = _RECORD_COUNTS[report_type].format(
        current_ir="" if all_versions else " AND ir.is_current",
        current_d="" if all_versions else " AND d.is_current",
        current_m="" if all_versions else " AND m.is_current",
        in_ir=_in_periods("ir.operating_day"),
        in_d=_in_periods("d.read_date"),
    )
    return f"""
WITH {_ctes(role)},
counted AS ({counted})
INSERT INTO read_audit (occurred_at, entity_id, role, client_id, endpoint, esiid, range_start,
                        range_end, row_count, status_code, request_id)
SELECT clock_timestamp(), r.requester_entity_id, r.requester_role, r.client_id,
       'POST /v1/reports', e.esiid, r.start_date, r.end_date, COALESCE(n.n, 0),
       CASE WHEN e.included THEN 200 ELSE 404 END, 'report ' || r.id
FROM report_requests r
JOIN report_esiids e ON e.report_id = r.id
LEFT JOIN counted n ON n.esiid = e.esiid
WHERE r.id = :report_id"""  # noqa: S608
