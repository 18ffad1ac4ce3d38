"""Loading LSE files end to end: HTTP upload, real gpg, the pipeline, versioned storage."""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from meterhub_common.domain import CENTRAL
from meterhub_ingest.files.pipeline import LoadContext, kind_supported
from meterhub_ingest.telemetry import IngestMetrics
from tests.ingest.files.conftest import (
    REP_A,
    REP_B,
    SAMPLE,
    SAMPLE_ESIID,
    SAMPLE_SENDER,
    SENDER,
    Keys,
    add_esiids,
    esiid,
    load,
    lse_bytes,
    record,
    report,
    seal,
    send,
)

CREATED = datetime(2026, 11, 2, 3, 0, tzinfo=CENTRAL)


async def _current(connection: AsyncConnection, key: str, day: date, channel: int = 4) -> Any:
    return (
        await connection.execute(
            text(
                "SELECT *, kwh::numeric[] AS numbers FROM interval_reads "
                "WHERE esiid = :e AND channel = :c AND operating_day = :d AND is_current"
            ),
            {"e": key, "c": channel, "d": day},
        )
    ).one()


async def test_seed_sample_loads_and_reads_back_exactly(
    client: httpx.AsyncClient,
    make_token: Any,
    keys: Keys,
    connection: AsyncConnection,
    raw: asyncpg.Connection,
    ctx: LoadContext,
) -> None:
    await add_esiids(connection, [SAMPLE_ESIID], tdsp=SAMPLE_SENDER, rep="111111111")
    auth = {"Authorization": f"Bearer {make_token('tdsp', SAMPLE_SENDER)}"}
    sent = await send(client, auth, seal(keys, SAMPLE.read_bytes(), name=SAMPLE.name))
    [outcome] = await load(raw, ctx)
    assert outcome.status == "loaded"

    row = await _current(connection, SAMPLE_ESIID, date(2008, 5, 10))
    assert row.interval_count == 96 and len(row.numbers) == 96 and len(row.statuses) == 96
    assert row.numbers[0] == Decimal("68.29") and row.numbers[-1] == Decimal("7.82")
    assert row.numbers[4:8] == [
        Decimal("66.81"), Decimal("66.52"), Decimal("67.11"), Decimal("67.11")
    ]  # fmt: skip
    # Row 10000001 (intervals 5-8) is estimated, everything else actual.
    assert row.statuses == "AAAA" + "EEEE" + "A" * 88
    assert row.version == 1 and row.is_current and row.superseded_at is None
    assert row.transaction_id == "UNIQUETRANID0123456789"
    assert row.record_created_at == datetime(2008, 5, 19, 11, 28, 25, tzinfo=CENTRAL)
    assert str(row.source_file_id) == sent["file_id"]
    exact = await connection.scalar(
        text("SELECT kwh::text FROM interval_reads WHERE esiid = :e"), {"e": SAMPLE_ESIID}
    )
    assert exact.startswith("{68.29,69.17,67.99,67.99,66.81,") and exact.endswith(",7.82}")

    view = (await client.get(f"/v1/files/{sent['file_id']}", headers=auth)).json()
    assert view["status"] == "loaded"
    assert view["counts"] == {"total": 1, "loaded": 1, "rejected": 0, "unchanged": 0}
    assert view["attempts"] == 1 and view["finished_at"] is not None
    assert view["time_to_market_seconds"] >= 0
    lines = await report(client, auth, sent["file_id"])
    assert lines == [
        {
            "line": 1,
            "code": "00",
            "description": "The record was loaded.",
            "message": "loaded as version 1",
            "esiid": SAMPLE_ESIID,
            "channel": 4,
            "operating_day": "2008-05-10",
        }
    ]


async def test_dst_days_store_92_and_100_intervals(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    keys: Keys,
    connection: AsyncConnection,
    raw: asyncpg.Connection,
    ctx: LoadContext,
) -> None:
    await add_esiids(connection, [esiid(1)])
    spring, fall, plain = date(2026, 3, 8), date(2026, 11, 1), date(2026, 3, 9)
    records = [record(1, spring), record(1, fall), record(1, plain)]
    await send(client, auth, seal(keys, lse_bytes(records)))
    [outcome] = await load(raw, ctx)
    assert outcome.status == "loaded" and outcome.summary is not None
    assert outcome.summary.loaded == 3
    for day, count, source in (
        (spring, 92, records[0]),
        (fall, 100, records[1]),
        (plain, 96, records[2]),
    ):
        row = await _current(connection, esiid(1), day)
        assert row.interval_count == count and len(row.numbers) == count
        # Stored as loaded: the file's canonical texts, in PostgreSQL's array form.
        assert row.kwh == "{" + ",".join(source.values) + "}"  # type: ignore[arg-type]
        assert row.statuses == source.statuses


async def test_missing_intervals_are_stored_as_missing_not_zero(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    keys: Keys,
    connection: AsyncConnection,
    raw: asyncpg.Connection,
    ctx: LoadContext,
) -> None:
    await add_esiids(connection, [esiid(1)])
    base = record(1)
    values = list(base.values)
    values[10] = None
    statuses = base.statuses[:10] + "-" + base.statuses[11:]
    await send(
        client,
        auth,
        seal(keys, lse_bytes([replace(base, values=tuple(values), statuses=statuses)])),
    )
    await load(raw, ctx)
    row = await _current(connection, esiid(1), base.operating_day)
    assert row.numbers[10] is None and row.numbers[9] is not None
    assert ",NULL," in row.kwh
    assert row.statuses[10] == "-"


async def test_every_record_level_code_with_its_line(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    keys: Keys,
    connection: AsyncConnection,
    raw: asyncpg.Connection,
    ctx: LoadContext,
) -> None:
    await add_esiids(connection, [esiid(n) for n in range(1, 10)])
    day = date(2026, 11, 1)
    # First load: the versions that 05 and 13 are measured against.
    await send(client, auth, seal(keys, lse_bytes([record(5, day), record(6, day)])))
    await load(raw, ctx)

    good = lse_bytes([record(1, day)]).decode()
    bad_value = lse_bytes([record(2, day)]).decode().replace("10000003,", "10000003,abc", 1)
    bad_format = lse_bytes([record(3, day)]).decode().replace("\n00000003,", "\n00000009,")
    short_day = "\n".join(lse_bytes([record(4, day)]).decode().splitlines()[:-1]) + "\n"
    older = lse_bytes([record(5, day, created=CREATED - timedelta(days=1), seed=99)]).decode()
    identical = lse_bytes([record(6, day)]).decode()
    future = lse_bytes([record(7, date(2026, 11, 24))]).decode()
    unknown = lse_bytes([replace(record(8, day), esiid=esiid(999))]).decode()
    wrong_sender = lse_bytes([record(9, day, sender="957877905")]).decode()
    duplicate = good
    parts = [
        good,
        bad_value,
        bad_format,
        short_day,
        older,
        identical,
        future,
        unknown,
        wrong_sender,
        duplicate,
        lse_bytes([record(7, date(2026, 11, 2))]).decode(),
    ]
    lines_at: list[int] = []
    line = 1
    for part in parts:
        lines_at.append(line)
        line += part.count("\n")
    # short_day is not the last record of the file, so it is a record a row short (03), not a
    # truncated file (F14).
    sent = await send(client, auth, seal(keys, "".join(parts).encode()))
    [outcome] = await load(raw, ctx)
    assert outcome.status == "partially loaded"

    by_line = {entry["line"]: entry for entry in await report(client, auth, sent["file_id"])}
    expected = ["00", "01", "02", "03", "05", "13", "04", "10", "11", "12", "00"]
    assert [by_line[at]["code"] for at in lines_at] == expected
    assert len(by_line) == len(parts)
    for at in lines_at:
        entry = by_line[at]
        assert entry["description"] and entry["message"]
    assert "abc" in by_line[lines_at[1]]["message"]
    assert by_line[lines_at[4]]["message"].startswith(f"line {lines_at[4]}: version 1")
    assert by_line[lines_at[5]]["message"].endswith("nothing changed")
    assert esiid(999) in by_line[lines_at[7]]["message"]
    assert by_line[lines_at[7]]["esiid"] == esiid(999)
    view = (await client.get(f"/v1/files/{sent['file_id']}", headers=auth)).json()
    assert view["counts"] == {"total": 11, "loaded": 2, "rejected": 8, "unchanged": 1}
    # Nothing but the two 00 records was stored from this file.
    stored = await connection.scalar(
        text("SELECT count(*) FROM interval_reads WHERE source_file_id = :f"),
        {"f": sent["file_id"]},
    )
    assert stored == 2


async def test_newer_record_replaces_and_keeps_the_old_version(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    keys: Keys,
    connection: AsyncConnection,
    raw: asyncpg.Connection,
    ctx: LoadContext,
) -> None:
    await add_esiids(connection, [esiid(1)])
    day = date(2026, 11, 1)
    estimated = replace(record(1, day), statuses="E" * 100)
    first = await send(client, auth, seal(keys, lse_bytes([estimated])))
    await load(raw, ctx)
    actual = record(1, day, created=CREATED + timedelta(hours=6), seed=7)
    second = await send(client, auth, seal(keys, lse_bytes([actual])))
    [outcome] = await load(raw, ctx)
    assert outcome.status == "loaded"

    versions = (
        await connection.execute(
            text(
                "SELECT version, is_current, statuses, superseded_at, revision_at, "
                "source_file_id::text AS source, kwh::numeric[] AS kwh FROM interval_reads "
                "WHERE esiid = :e ORDER BY version"
            ),
            {"e": esiid(1)},
        )
    ).all()
    assert [(v.version, v.is_current) for v in versions] == [(1, False), (2, True)]
    assert versions[0].statuses == "E" * 100 and versions[0].source == first["file_id"]
    assert versions[1].source == second["file_id"]
    assert [str(v) for v in versions[1].kwh] == list(actual.values)
    assert versions[0].superseded_at == versions[1].revision_at
    assert versions[1].revision_at > versions[0].revision_at
    [line] = await report(client, auth, second["file_id"])
    assert line["code"] == "00"
    assert line["message"].startswith("loaded as version 2, replacing version 1")

    # A resend older than the current version: 05, and nothing changes.
    stale = record(1, day, created=CREATED + timedelta(hours=1), seed=8)
    third = await send(client, auth, seal(keys, lse_bytes([stale])))
    [outcome] = await load(raw, ctx)
    assert outcome.status == "rejected" and outcome.error_code is None
    [line] = await report(client, auth, third["file_id"])
    assert line["code"] == "05"
    # Identical values with a new timestamp (different bytes): 13, no new version.
    same = replace(actual, created_at=CREATED + timedelta(hours=9), transaction_id="T2")
    fourth = await send(client, auth, seal(keys, lse_bytes([same])))
    [outcome] = await load(raw, ctx)
    assert outcome.status == "loaded"
    [line] = await report(client, auth, fourth["file_id"])
    assert line["code"] == "13"
    count = await connection.scalar(
        text("SELECT count(*) FROM interval_reads WHERE esiid = :e"), {"e": esiid(1)}
    )
    assert count == 2


async def test_equal_timestamp_with_different_values_is_05(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    keys: Keys,
    connection: AsyncConnection,
    raw: asyncpg.Connection,
    ctx: LoadContext,
) -> None:
    await add_esiids(connection, [esiid(1)])
    await send(client, auth, seal(keys, lse_bytes([record(1, seed=1)])))
    await load(raw, ctx)
    sent = await send(client, auth, seal(keys, lse_bytes([record(1, seed=2)])))
    await load(raw, ctx)
    [line] = await report(client, auth, sent["file_id"])
    assert line["code"] == "05"


async def test_change_events_name_the_rep_of_record_and_supplemental(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    keys: Keys,
    connection: AsyncConnection,
    raw: asyncpg.Connection,
    ctx: LoadContext,
) -> None:
    switch = date(2026, 10, 15)
    await add_esiids(connection, [esiid(1), esiid(2)], rep=None)
    await add_esiids(connection, [esiid(3)], rep=REP_A)
    for key in (esiid(1), esiid(2)):
        await connection.execute(
            text(
                "INSERT INTO service_history (esiid, start_date, end_date, rep_duns) VALUES "
                "(:e, DATE '2025-01-01', :s, :a), (:e, :s, NULL, :b)"
            ),
            {"e": key, "s": switch, "a": REP_A, "b": REP_B},
        )
    before, after = date(2026, 10, 14), date(2026, 10, 20)
    first = await send(
        client,
        auth,
        seal(
            keys,
            lse_bytes([record(1, before), record(2, before), record(1, after), record(3, after)]),
        ),
    )
    await load(raw, ctx)
    events = (
        await connection.execute(
            text(
                "SELECT rep_duns, operating_day, kind, supplemental, esiid_count "
                "FROM usage_change_events WHERE file_id = :f ORDER BY rep_duns, operating_day"
            ),
            {"f": first["file_id"]},
        )
    ).all()
    assert [tuple(e) for e in events] == [
        (REP_A, before, "lse", False, 2),
        (REP_A, after, "lse", False, 1),
        (REP_B, after, "lse", False, 1),
    ]
    replacement = await send(
        client,
        auth,
        seal(keys, lse_bytes([record(1, after, created=CREATED + timedelta(1), seed=5)])),
    )
    await load(raw, ctx)
    events = (
        await connection.execute(
            text(
                "SELECT rep_duns, operating_day, supplemental, esiid_count "
                "FROM usage_change_events WHERE file_id = :f"
            ),
            {"f": replacement["file_id"]},
        )
    ).all()
    assert [tuple(e) for e in events] == [(REP_B, after, True, 1)]


async def test_report_as_csv(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    keys: Keys,
    connection: AsyncConnection,
    raw: asyncpg.Connection,
    ctx: LoadContext,
) -> None:
    await add_esiids(connection, [esiid(1)])
    body = lse_bytes([record(1), replace(record(2), esiid=esiid(2))])
    sent = await send(client, auth, seal(keys, body))
    await load(raw, ctx)
    response = await client.get(
        f"/v1/files/{sent['file_id']}/report", headers={**auth, "Accept": "text/csv"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [(r["line"], r["code"], r["esiid"]) for r in rows] == [
        ("1", "00", esiid(1)),
        ("31", "10", esiid(2)),
    ]
    assert rows[1]["description"].startswith("The ESI ID is unknown")
    assert rows[0]["operating_day"] == "2026-11-01" and rows[0]["channel"] == "4"
    problems = await client.get(
        f"/v1/files/{sent['file_id']}/report", params={"problems_only": "true"}, headers=auth
    )
    assert [r["code"] for r in problems.json()] == ["10"]


async def test_metrics_count_records_by_code_and_time_to_market(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    keys: Keys,
    connection: AsyncConnection,
    raw: asyncpg.Connection,
    ctx: LoadContext,
) -> None:
    reader = InMemoryMetricReader()
    ctx.metrics = IngestMetrics(MeterProvider(metric_readers=[reader]))
    ctx.metrics.pending_files = 3
    await add_esiids(connection, [esiid(1)])
    await send(client, auth, seal(keys, lse_bytes([record(1), replace(record(2), esiid=esiid(2))])))
    await load(raw, ctx)
    data = reader.get_metrics_data()
    assert data is not None
    points: dict[str, Any] = {}
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            assert scope.scope.name == "meterhub.ingest"
            for metric in scope.metrics:
                points[metric.name] = list(metric.data.data_points)
    by_code = {p.attributes["code"]: p.value for p in points["meterhub.ingest.records"]}
    assert by_code == {"00": 1, "10": 1}
    [histogram] = points["meterhub.ingest.time_to_market"]
    assert histogram.count == 1 and histogram.sum >= 0
    [pending] = points["meterhub.ingest.files_pending"]
    assert pending.value == 3


async def test_revision_times_are_when_loaded(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    keys: Keys,
    connection: AsyncConnection,
    raw: asyncpg.Connection,
    ctx: LoadContext,
) -> None:
    await add_esiids(connection, [esiid(1)])
    started = datetime.now(UTC)
    await send(client, auth, seal(keys, lse_bytes([record(1)])))
    await load(raw, ctx)
    row = await _current(connection, esiid(1), date(2026, 11, 1))
    assert started - timedelta(seconds=5) <= row.revision_at <= datetime.now(UTC)
    assert row.record_created_at == CREATED
    assert SENDER in row.transaction_id  # synthetic ids start with the sender's DUNS


async def test_bulk_new_records_take_the_fast_path_others_the_general_one(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    keys: Keys,
    connection: AsyncConnection,
    raw: asyncpg.Connection,
    ctx: LoadContext,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="meterhub_ingest.files.pipeline")
    await add_esiids(connection, [esiid(n) for n in range(1, 5)])

    def last_timings() -> dict[str, Any]:
        timings: dict[str, Any] = caplog.records[-1].timings  # type: ignore[attr-defined]
        return timings

    # All new: COPY straight into interval_reads; an unknown ESI ID is taken out again.
    fast = await send(
        client, auth, seal(keys, lse_bytes([record(1), replace(record(2), esiid=esiid(99))]))
    )
    await load(raw, ctx)
    assert last_timings()["fast_path"] is True
    assert {"stream", "classify", "write", "report"} <= set(last_timings())
    codes = [line["code"] for line in await report(client, auth, fast["file_id"])]
    assert codes == ["00", "10"]
    assert (
        await connection.scalar(
            text("SELECT count(*) FROM interval_reads WHERE source_file_id = :f"),
            {"f": fast["file_id"]},
        )
        == 1
    )

    # One record already has a current version: the whole file takes the general path.
    mixed = await send(
        client,
        auth,
        seal(keys, lse_bytes([record(3), record(1, created=CREATED + timedelta(hours=1), seed=3)])),
    )
    await load(raw, ctx)
    assert last_timings()["fast_path"] is False
    assert [line["code"] for line in await report(client, auth, mixed["file_id"])] == ["00", "00"]

    # Days months apart: the partitions made up front do not cover them all.
    apart = await send(
        client,
        auth,
        seal(keys, lse_bytes([record(4, date(2019, 1, 15)), record(4, date(2019, 9, 15))])),
    )
    await load(raw, ctx)
    assert last_timings()["fast_path"] is False
    assert [line["code"] for line in await report(client, auth, apart["file_id"])] == ["00", "00"]
    days = await connection.scalar(
        text("SELECT count(*) FROM interval_reads WHERE esiid = :e AND is_current"),
        {"e": esiid(4)},
    )
    assert days == 2


async def test_deleting_a_file_deletes_its_report(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    keys: Keys,
    connection: AsyncConnection,
    raw: asyncpg.Connection,
    ctx: LoadContext,
) -> None:
    await add_esiids(connection, [esiid(1)])
    sent = await send(client, auth, seal(keys, lse_bytes([record(1), record(2)])))
    await load(raw, ctx)
    lines = text("SELECT count(*) FROM tdsp_file_results WHERE file_id = :f")
    assert await connection.scalar(lines, {"f": sent["file_id"]}) == 2
    await connection.execute(
        text("DELETE FROM interval_reads WHERE source_file_id = :f"), {"f": sent["file_id"]}
    )
    await connection.execute(
        text("DELETE FROM usage_change_events WHERE file_id = :f"), {"f": sent["file_id"]}
    )
    await connection.execute(text("DELETE FROM tdsp_files WHERE id = :f"), {"f": sent["file_id"]})
    assert await connection.scalar(lines, {"f": sent["file_id"]}) == 0


async def test_files_larger_than_a_copy_batch_load_whole(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    keys: Keys,
    connection: AsyncConnection,
    raw: asyncpg.Connection,
    ctx: LoadContext,
) -> None:
    count = 2345  # more than two COPY batches of 1,000
    await connection.execute(
        text(
            "INSERT INTO esiids (esiid, tdsp_duns, premise_type) "
            "SELECT '10443720' || lpad(n::text, 9, '0'), :t, 'residential' "
            "FROM generate_series(1, :n) AS n"
        ),
        {"t": SENDER, "n": count},
    )
    base, newer = record(1), record(1, created=CREATED + timedelta(hours=2), seed=2)
    bad = lse_bytes([replace(base, esiid=esiid(1500))]).replace(b"10000004,", b"10000004,?", 1)
    first = [replace(base, esiid=esiid(n)) for n in range(1, count + 1) if n != 1500]
    body = lse_bytes(first[:1499]) + bad + lse_bytes(first[1499:])
    sent = await send(client, auth, seal(keys, body))
    [outcome] = await load(raw, ctx)
    assert outcome.summary is not None
    assert (outcome.summary.total, outcome.summary.loaded) == (count, count - 1)
    second = await send(
        client,
        auth,
        seal(keys, lse_bytes(replace(newer, esiid=esiid(n)) for n in range(1, count + 1))),
    )
    [outcome] = await load(raw, ctx)
    assert outcome.summary is not None and outcome.summary.loaded == count
    versions = (
        await connection.execute(
            text(
                "SELECT count(*) FILTER (WHERE version = 1), count(*) FILTER (WHERE version = 2),"
                " count(*) FILTER (WHERE is_current) FROM interval_reads"
                " WHERE esiid LIKE '1044372%'"
            )
        )
    ).one()
    # ESI ID 1500 was rejected in the first file, so the second one loads its version 1.
    assert tuple(versions) == (count, count - 1, count)
    lines = await report(client, auth, sent["file_id"])
    assert len(lines) == count and lines[-1]["line"] == 1 + 30 * (count - 1)
    assert [line["code"] for line in lines if line["code"] != "00"] == ["01"]
    assert len(await report(client, auth, second["file_id"])) == count


@pytest.mark.parametrize("kind", ["meter-sync", "register-reads", "monthly-usage"])
async def test_csv_kinds_are_dispatched_to_their_loader(
    kind: str,
    client: httpx.AsyncClient,
    auth: dict[str, str],
    keys: Keys,
    raw: asyncpg.Connection,
    ctx: LoadContext,
) -> None:
    if not kind_supported(kind):
        pytest.skip(f"the {kind} loader is not deployed")
    body = b"this is not,the layout\nof any,csv file\n"
    sent = await send(client, auth, seal(keys, body, name=f"{kind}.csv"), kind=kind)
    [outcome] = await load(raw, ctx)
    assert outcome.kind == kind and outcome.status == "rejected"
    lines = await report(client, auth, sent["file_id"])
    assert lines and all(line["code"] != "00" for line in lines)
