"""End to end: usage rows and change events -> publisher -> encrypted files -> a REP's FTPS
client downloads, decrypts with its own secret key, and every value matches the database."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from meterhub_common.domain.operating_day import intervals

NORMAL_DAY = date(2026, 10, 14)
FALL_BACK = date(2026, 11, 1)  # 25-hour day: 100 intervals
SPRING_FORWARD = date(2026, 3, 8)  # 23-hour day: 92 intervals


async def _current_rows(pool: Any, esiid: str, day: date) -> dict[int, Any]:
    rows = await pool.fetch(
        "SELECT channel, kwh::numeric[] AS kwh, statuses, interval_count FROM interval_reads "
        "WHERE esiid = $1 AND operating_day = $2 AND is_current",
        esiid,
        day,
    )
    return {r["channel"]: r for r in rows}


def _check_file_against_db(rows: list[dict[str, str]], db: dict[str, dict[int, Any]], day: date):
    labels = [(iv.start.strftime("%H:%M"), iv.label) for iv in intervals(day)]
    by_key: dict[tuple[str, str], list[dict[str, str]]] = {}
    for row in rows:
        by_key.setdefault((row["ESIID"], row["CONSUMPTION_SURPLUSGENERATION"]), []).append(row)
    expected_keys = {
        (esiid, "Consumption" if channel == 4 else "Surplus Generation")
        for esiid, channels in db.items()
        for channel in channels
    }
    assert set(by_key) == expected_keys
    for (esiid, channel_name), lines in by_key.items():
        record = db[esiid][4 if channel_name == "Consumption" else 1]
        assert len(lines) == record["interval_count"] == len(labels)
        for position, line in enumerate(lines):
            assert line["USAGE_DATE"] == f"{day:%m/%d/%Y}"
            assert (line["USAGE_START_TIME"], line["USAGE_END_TIME"]) == labels[position]
            value = record["kwh"][position]
            if value is None:
                assert line["USAGE_KWH"] == ""
            else:
                assert Decimal(line["USAGE_KWH"]) == value
            status = record["statuses"][position]
            assert line["ESTIMATED_ACTUAL"] == ("" if status == "-" else status)
            assert len(line["REVISION_DATE"]) == len("11/02/2026 10:00:00")
    assert labels[-1][1] == "00:00"


@pytest.mark.parametrize("day", [NORMAL_DAY, FALL_BACK, SPRING_FORWARD])
async def test_rep_downloads_decrypts_and_every_value_matches(
    service: Any, seeder: Any, client: Any, client_keys: Any, day: date
) -> None:
    rep_a = await seeder.rep()
    rep_b = await seeder.rep()
    file_id = await seeder.tdsp_file()
    mine = [await seeder.esiid(rep_a.duns, day - timedelta(days=30)) for _ in range(3)]
    # Served by A until the day before: A must not get it; B took over that day.
    switched = await seeder.esiid(rep_a.duns, day - timedelta(days=30), day)
    await seeder.serve(switched, rep_b.duns, day, None)
    count = len(intervals(day))
    await seeder.intervals(mine[0], day, file_id)
    kwh = [Decimal("0.250")] * count
    kwh[5] = None
    statuses = "A" * 3 + "E" * 2 + "-" + "A" * (count - 6)
    await seeder.intervals(mine[1], day, file_id, kwh=kwh, statuses=statuses)
    await seeder.intervals(mine[1], day, file_id, channel=1)  # surplus generation
    await seeder.intervals(mine[2], day, file_id)
    await seeder.intervals(switched, day, file_id)
    await seeder.event(file_id, rep_a.duns, day, count=3)
    await seeder.event(file_id, rep_b.duns, day, count=1)

    report = await service.app.state.publisher.run_until_idle()
    names_a = [f.file_name for f in report.files if f.rep_duns == rep_a.duns]
    assert len(names_a) == 1
    name = names_a[0]
    assert name.startswith(f"IntervalMeterUsage{rep_a.duns}_{day:%Y%m%d}_")
    assert name.endswith(".zip.asc")

    def fetch() -> tuple[list[str], bytes]:
        with client.login(rep_a.duns) as ftp:
            listing = ftp.nlst()
            return listing, client.download(ftp, name)

    listing, data = await asyncio.to_thread(fetch)
    assert listing == [name]
    assert data.startswith(b"-----BEGIN PGP MESSAGE-----")
    entries = await asyncio.to_thread(client_keys.decrypt_zip, data)
    assert list(entries) == [name.removesuffix(".zip.asc") + ".csv"]
    csv_bytes = next(iter(entries.values()))
    assert csv_bytes.startswith(
        b"ESIID,USAGE_DATE,REVISION_DATE,USAGE_START_TIME,USAGE_END_TIME,USAGE_KWH,"
        b"ESTIMATED_ACTUAL,CONSUMPTION_SURPLUSGENERATION\n"
    )
    rows = client.read_csv(csv_bytes)
    db = {esiid: await _current_rows(service.pool, esiid, day) for esiid in mine}
    _check_file_against_db(rows, db, day)
    assert [r["ESIID"] for r in rows] == sorted(r["ESIID"] for r in rows)
    assert switched not in {r["ESIID"] for r in rows}
    if day == FALL_BACK:
        assert sum(1 for r in rows if r["ESIID"] == mine[0]) == 100
        starts = [r["USAGE_START_TIME"] for r in rows if r["ESIID"] == mine[0]]
        assert starts.count("01:00") == 2 and starts.count("01:15") == 2

    # B got exactly the switched ESI ID.
    names_b = [f.file_name for f in report.files if f.rep_duns == rep_b.duns]
    assert len(names_b) == 1

    # The download is in the retrieval log, with bytes and address.
    logged = await service.pool.fetchrow(
        "SELECT * FROM ftps_retrievals WHERE rep_duns = $1 AND file_name = $2",
        rep_a.duns,
        name,
    )
    assert logged["completed"] and logged["bytes_sent"] == len(data)
    assert logged["remote_address"] == "127.0.0.1" and logged["published_file_id"] is not None
    delivery = await service.pool.fetchrow(
        "SELECT * FROM ftps_deliveries WHERE rep_duns = $1 AND operating_day = $2",
        rep_a.duns,
        day,
    )
    assert delivery["first_delivered_at"] is not None
    assert delivery["first_delivered_at"] <= delivery["scheduled_by"]


async def test_daily_meter_read_file(
    service: Any, seeder: Any, client: Any, client_keys: Any
) -> None:
    rep = await seeder.rep()
    day = NORMAL_DAY
    file_id = await seeder.tdsp_file("register-reads")
    esiids = [await seeder.esiid(rep.duns, day - timedelta(days=5)) for _ in range(2)]
    await seeder.daily(esiids[0], day, file_id, Decimal("1000.5000"), Decimal("1031.2500"))
    await seeder.daily(esiids[1], day, file_id, Decimal("20.0000"), Decimal("45.1250"))
    await seeder.event(file_id, rep.duns, day, kind="register-reads", count=2)
    report = await service.app.state.publisher.run_until_idle()
    (placed,) = [f for f in report.files if f.rep_duns == rep.duns]
    assert placed.file_name.startswith(f"DailyMeterUsage{rep.duns}_{day:%Y%m%d}_")

    def fetch() -> bytes:
        with client.login(rep.duns) as ftp:
            return client.download(ftp, placed.file_name)

    entries = client_keys.decrypt_zip(await asyncio.to_thread(fetch))
    rows = client.read_csv(next(iter(entries.values())))
    assert [r["ESIID"] for r in rows] == sorted(esiids)
    by_id = {r["ESIID"]: r for r in rows}
    assert Decimal(by_id[esiids[0]]["START_READING"]) == Decimal("1000.5")
    assert Decimal(by_id[esiids[0]]["USAGE_KWH"]) == Decimal("30.75")
    assert by_id[esiids[1]]["USAGE_DATE"] == f"{day:%m/%d/%Y}"
    assert set(rows[0]) == {
        "ESIID",
        "USAGE_DATE",
        "REVISION_DATE",
        "START_READING",
        "END_READING",
        "USAGE_KWH",
        "METER_NUMBER",
    }


async def test_supplemental_file_after_replacement(
    service: Any, seeder: Any, client: Any, client_keys: Any
) -> None:
    rep = await seeder.rep()
    day = NORMAL_DAY + timedelta(days=1)
    first = await seeder.tdsp_file()
    esiid = await seeder.esiid(rep.duns, day - timedelta(days=3))
    count = len(intervals(day))
    await seeder.intervals(esiid, day, first, kwh=[Decimal("0.100")] * count, statuses="E" * count)
    await seeder.event(first, rep.duns, day)
    await service.app.state.publisher.run_until_idle()
    # The worker keeps its connection for the next file; one that died while idle (here:
    # terminated by an operator) is replaced without failing that file.
    killed = await service.pool.fetchval(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE application_name = 'meterhub-ftps-publisher-worker'"
    )
    assert killed >= 1
    replacement = await seeder.tdsp_file()
    await seeder.intervals(
        esiid, day, replacement, kwh=[Decimal("0.300")] * count, statuses="A" * count
    )
    await seeder.event(replacement, rep.duns, day, supplemental=True)
    report = await service.app.state.publisher.run_until_idle()
    (supplemental,) = [f for f in report.files if f.rep_duns == rep.duns]
    assert supplemental.supplemental
    assert supplemental.file_name.startswith(f"IntervalMeterUsageSupplemental{rep.duns}_")

    def fetch() -> tuple[list[str], bytes]:
        with client.login(rep.duns) as ftp:
            return sorted(ftp.nlst()), client.download(ftp, supplemental.file_name)

    listing, data = await asyncio.to_thread(fetch)
    assert len(listing) == 2 and supplemental.file_name in listing
    rows = client.read_csv(next(iter(client_keys.decrypt_zip(data).values())))
    assert {r["USAGE_KWH"] for r in rows} == {"0.300"}
    assert {r["ESTIMATED_ACTUAL"] for r in rows} == {"A"}


async def test_crash_mid_publish_leaves_nothing_and_next_run_completes(
    service: Any, seeder: Any, client_keys: Any
) -> None:
    publisher = service.app.state.publisher
    rep = await seeder.rep()
    day = NORMAL_DAY + timedelta(days=2)
    file_id = await seeder.tdsp_file()
    esiid = await seeder.esiid(rep.duns, day - timedelta(days=3))
    await seeder.intervals(esiid, day, file_id)
    event_id = await seeder.event(file_id, rep.duns, day)
    seen: list[str] = []

    def crash(tmp: Any) -> None:
        seen.append(tmp.name)
        assert tmp.exists() and tmp.name.startswith(".")
        raise RuntimeError("power cut")

    publisher.before_rename = crash
    try:
        with pytest.raises(RuntimeError, match="power cut"):
            await publisher.run_until_idle()
    finally:
        publisher.before_rename = None
    assert seen, "the crash hook never ran"
    assert list(rep.folder.iterdir()) == []  # nothing visible, no temporary file left
    cursor = await service.pool.fetchval("SELECT last_event_id FROM ftps_publisher_cursor")
    assert cursor < event_id
    assert (
        await service.pool.fetchval(
            "SELECT count(*) FROM ftps_published_files WHERE rep_duns = $1", rep.duns
        )
        == 0
    )

    report = await publisher.run_until_idle()
    (placed,) = [f for f in report.files if f.rep_duns == rep.duns]
    files = sorted(p.name for p in rep.folder.iterdir())
    assert files == [placed.file_name]
    entries = client_keys.decrypt_zip((rep.folder / placed.file_name).read_bytes())
    assert esiid.encode() in next(iter(entries.values()))
    assert (
        await service.pool.fetchval("SELECT last_event_id FROM ftps_publisher_cursor") >= event_id
    )


async def test_late_event_below_the_cursor_is_still_published(service: Any, seeder: Any) -> None:
    publisher = service.app.state.publisher
    rep = await seeder.rep()
    day = NORMAL_DAY + timedelta(days=3)
    file_id = await seeder.tdsp_file()
    esiid = await seeder.esiid(rep.duns, day - timedelta(days=3))
    await seeder.intervals(esiid, day, file_id)
    event_id = await seeder.event(file_id, rep.duns, day)
    # Simulate a transaction that committed after the cursor had moved past its event.
    await service.pool.execute(
        "UPDATE ftps_publisher_cursor SET last_event_id = greatest(last_event_id, $1)", event_id
    )
    report = await publisher.run_until_idle()
    assert [f.rep_duns for f in report.files] == [rep.duns]
    again = await publisher.run_until_idle()
    assert again.files == []


async def test_rep_without_key_is_recorded_undelivered_then_swept(
    service: Any, seeder: Any, client_keys: Any
) -> None:
    publisher = service.app.state.publisher
    rep = await seeder.rep(key=False)
    day = NORMAL_DAY + timedelta(days=4)
    file_id = await seeder.tdsp_file()
    esiid = await seeder.esiid(rep.duns, day - timedelta(days=3))
    await seeder.intervals(esiid, day, file_id)
    await seeder.event(file_id, rep.duns, day)
    report = await publisher.run_until_idle()
    assert rep.duns in report.reps_without_key
    delivery = await service.pool.fetchrow(
        "SELECT * FROM ftps_deliveries WHERE rep_duns = $1", rep.duns
    )
    assert delivery["first_delivered_at"] is None
    fingerprint = await asyncio.to_thread(client_keys.new_key, "late key")
    await seeder.add_key(rep.duns, fingerprint, "active")
    swept = await publisher.sweep(day + timedelta(days=1))
    assert [f.rep_duns for f in swept.files if f.rep_duns == rep.duns] == [rep.duns]
    assert swept.files[[f.rep_duns for f in swept.files].index(rep.duns)].source == "sweep"
    assert len(list(rep.folder.iterdir())) == 1
    delivery = await service.pool.fetchrow(
        "SELECT * FROM ftps_deliveries WHERE rep_duns = $1", rep.duns
    )
    assert delivery["first_delivered_at"] is not None


async def test_pending_key_is_not_used_until_confirmed(
    service: Any, seeder: Any, client_keys: Any
) -> None:
    publisher = service.app.state.publisher
    rep = await seeder.rep()
    new_fpr = await asyncio.to_thread(client_keys.new_key, "rotated")
    await seeder.add_key(rep.duns, new_fpr, "pending")
    day = NORMAL_DAY + timedelta(days=5)
    file_id = await seeder.tdsp_file()
    esiid = await seeder.esiid(rep.duns, day - timedelta(days=3))
    await seeder.intervals(esiid, day, file_id)
    await seeder.event(file_id, rep.duns, day)
    report = await publisher.run_until_idle()
    (placed,) = [f for f in report.files if f.rep_duns == rep.duns]
    assert placed.key_fingerprint == rep.fingerprint != new_fpr


async def test_notify_wakes_the_publisher_before_the_poll_interval(
    service: Any, seeder: Any
) -> None:
    from meterhub_common.db import libpq_url
    from meterhub_ftps_publisher.publishing.worker import publish_loop

    publisher = service.app.state.publisher
    await publisher.run_until_idle()  # nothing pending from other tests
    task = asyncio.create_task(
        publish_loop(publisher, libpq_url(service.settings.database_url), poll_seconds=60)
    )
    try:
        await asyncio.sleep(0.5)  # the loop ran once and now waits on LISTEN
        rep = await seeder.rep()
        day = NORMAL_DAY + timedelta(days=6)
        file_id = await seeder.tdsp_file()
        esiid = await seeder.esiid(rep.duns, day - timedelta(days=3))
        await seeder.intervals(esiid, day, file_id)
        async with service.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO usage_change_events (file_id, rep_duns, operating_day, kind,"
                " supplemental, esiid_count) VALUES ($1, $2, $3, 'lse', false, 1)",
                file_id,
                rep.duns,
                day,
            )
            await conn.execute("SELECT pg_notify('usage_changed', $1)", str(file_id))
        for _ in range(100):
            if rep.folder.exists() and any(rep.folder.iterdir()):
                break
            await asyncio.sleep(0.1)
        assert [p.name.startswith("IntervalMeterUsage") for p in rep.folder.iterdir()] == [True]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_no_file_and_no_missed_delivery_when_rep_was_not_rep_of_record(
    service: Any, seeder: Any
) -> None:
    rep = await seeder.rep()
    other = await seeder.rep()
    day = NORMAL_DAY + timedelta(days=7)
    file_id = await seeder.tdsp_file()
    esiid = await seeder.esiid(other.duns, day - timedelta(days=3))
    await seeder.intervals(esiid, day, file_id)
    await seeder.event(file_id, rep.duns, day)  # an event naming the wrong REP
    report = await service.app.state.publisher.run_until_idle()
    assert [f for f in report.files if f.rep_duns == rep.duns] == []
    assert not rep.folder.exists() or list(rep.folder.iterdir()) == []
    assert (
        await service.pool.fetchval(
            "SELECT count(*) FROM ftps_deliveries WHERE rep_duns = $1", rep.duns
        )
        == 0
    )
