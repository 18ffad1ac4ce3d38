"""The HTTP API: keys (registration, vetting, rotation), FTPS accounts, the records of
deliveries and retrievals, and the internal ad-hoc delivery endpoint."""

from __future__ import annotations

import asyncio
import io
import os
import zipfile
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from meterhub_common.auth import verify_secret
from meterhub_devstack.testing import bind_database_to
from meterhub_ftps_publisher.main import create_app
from meterhub_ftps_publisher.settings import FtpsPublisherSettings

REP_A = "148537214"
REP_B = "626765843"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def api(
    connection: AsyncConnection,
    common_settings: dict[str, object],
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[httpx.AsyncClient]:
    settings = FtpsPublisherSettings(
        **common_settings,  # type: ignore[arg-type]
        root=tmp_path_factory.mktemp("root"),
        gnupg_home=tmp_path_factory.mktemp("g"),
        start_ftps_server=False,
        start_publisher=False,
    )
    app = create_app(settings)
    bind_database_to(app.state.database, connection)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http
    app.state.key_vault.close()


def _expired_key(client_keys: Any) -> str:
    keyring = client_keys.keyring
    spec = keyring.gpg.gen_key_input(
        key_type="EDDSA",
        key_curve="ed25519",
        key_usage="sign",
        subkey_type="ECDH",
        subkey_curve="cv25519",
        subkey_usage="encrypt",
        name_real="Expired",
        name_email="expired@example.com",
        creation_date="20200101T000000",
        expire_date="20200201T000000",
        no_protection=True,
    )
    return str(keyring.export_public(str(keyring.gpg.gen_key(spec).fingerprint)))


def _sign_only_key(client_keys: Any) -> str:
    keyring = client_keys.keyring
    spec = keyring.gpg.gen_key_input(
        key_type="EDDSA",
        key_curve="ed25519",
        key_usage="sign",
        name_real="Signer",
        name_email="signer@example.com",
        no_protection=True,
    )
    return str(keyring.export_public(str(keyring.gpg.gen_key(spec).fingerprint)))


async def test_key_registration_vetting_and_rotation(
    api: httpx.AsyncClient, make_token: Any, client_keys: Any
) -> None:
    rep = bearer(make_token("rep", REP_A))
    first = await asyncio.to_thread(client_keys.new_key, "first")
    second = await asyncio.to_thread(client_keys.new_key, "second")

    expired = await api.post(
        "/v1/keys", json={"armored_key": _expired_key(client_keys)}, headers=rep
    )
    assert expired.status_code == 422 and "expired" in expired.json()["detail"]
    sign_only = await api.post(
        "/v1/keys", json={"armored_key": _sign_only_key(client_keys)}, headers=rep
    )
    assert sign_only.status_code == 422 and "encryption" in sign_only.json()["detail"]
    garbage = await api.post("/v1/keys", json={"armored_key": "hello"}, headers=rep)
    assert garbage.status_code == 422

    created = await api.post(
        "/v1/keys", json={"armored_key": client_keys.armored(first)}, headers=rep
    )
    assert created.status_code == 201
    assert created.json()["status"] == "active" and created.json()["fingerprint"] == first
    again = await api.post(
        "/v1/keys", json={"armored_key": client_keys.armored(first)}, headers=rep
    )
    assert again.status_code == 409

    rotated = await api.post(
        "/v1/keys", json={"armored_key": client_keys.armored(second)}, headers=rep
    )
    assert rotated.status_code == 201 and rotated.json()["status"] == "pending"
    keys = {
        k["fingerprint"]: k["status"]
        for k in (await api.get("/v1/keys", headers=rep)).json()["keys"]
    }
    assert keys == {first: "active", second: "pending"}

    # Another REP can neither see nor confirm it.
    other = bearer(make_token("rep", REP_B))
    assert (await api.get("/v1/keys", headers=other)).json()["keys"] == []
    assert (await api.post(f"/v1/keys/{second}/confirm", headers=other)).status_code == 404

    confirmed = await api.post(f"/v1/keys/{second}/confirm", headers=rep)
    assert confirmed.status_code == 200 and confirmed.json()["status"] == "active"
    keys = {
        k["fingerprint"]: k["status"]
        for k in (await api.get("/v1/keys", headers=rep)).json()["keys"]
    }
    assert keys == {first: "retired", second: "active"}

    operator = bearer(make_token("operator"))
    listed = (await api.get(f"/v1/keys?rep={REP_A}", headers=operator)).json()["keys"]
    assert len(listed) == 2
    customer = bearer(make_token("customer"))
    assert (await api.get("/v1/keys", headers=customer)).status_code == 403
    assert (await api.post("/v1/keys", json={"armored_key": "x"})).status_code == 401


async def test_accounts_operator_creates_rep_rotates(
    api: httpx.AsyncClient, make_token: Any, connection: AsyncConnection
) -> None:
    rep = bearer(make_token("rep", REP_A))
    operator = bearer(make_token("operator"))
    missing = await api.post(
        "/v1/account/password", json={"password": "a long enough password"}, headers=rep
    )
    assert missing.status_code == 404

    created = await api.put(
        f"/v1/accounts/{REP_A}",
        json={"allowed_networks": ["198.51.100.7", "203.0.113.0/24"]},
        headers=operator,
    )
    assert created.status_code == 200
    assert created.json()["allowed_networks"] == ["198.51.100.7/32", "203.0.113.0/24"]
    assert created.json()["has_password"] is False
    bad = await api.put(
        f"/v1/accounts/{REP_A}", json={"allowed_networks": ["not-an-ip"]}, headers=operator
    )
    assert bad.status_code == 422
    assert (await api.put(f"/v1/accounts/{REP_A}", json={}, headers=rep)).status_code == 403

    short = await api.post("/v1/account/password", json={"password": "short"}, headers=rep)
    assert short.status_code == 422
    await connection.execute(
        text(
            "UPDATE ftps_accounts SET locked_until = now() + interval '1 hour' WHERE rep_duns = :d"
        ),
        {"d": REP_A},
    )
    done = await api.post(
        "/v1/account/password", json={"password": "a long enough password"}, headers=rep
    )
    assert done.status_code == 204
    row = (
        await connection.execute(
            text("SELECT password_hash, locked_until FROM ftps_accounts WHERE rep_duns = :d"),
            {"d": REP_A},
        )
    ).one()
    assert row.password_hash != "a long enough password"
    assert verify_secret(row.password_hash, "a long enough password")
    assert row.locked_until is None
    mine = await api.get(f"/v1/accounts/{REP_A}", headers=rep)
    assert mine.status_code == 200 and mine.json()["has_password"] is True
    assert "password_hash" not in mine.json()
    theirs = await api.get(f"/v1/accounts/{REP_B}", headers=bearer(make_token("rep", REP_B)))
    assert theirs.status_code == 404
    assert (
        await api.get(f"/v1/accounts/{REP_A}", headers=bearer(make_token("rep", REP_B)))
    ).status_code == 404


async def test_records_rep_sees_only_its_own(
    api: httpx.AsyncClient, make_token: Any, connection: AsyncConnection
) -> None:
    now = datetime.now(UTC)
    day = date(2026, 10, 20)
    for duns in (REP_A, REP_B):
        await connection.execute(
            text(
                "INSERT INTO ftps_deliveries (rep_duns, operating_day, data_received_at,"
                " scheduled_by, first_delivered_at, last_delivered_at, files_delivered)"
                " VALUES (:d, :day, :r, :s, :f, :f, 1)"
            ),
            {"d": duns, "day": day, "r": now, "s": now + timedelta(hours=5), "f": now},
        )
        await connection.execute(
            text(
                "INSERT INTO ftps_published_files (rep_duns, file_name, kind, source,"
                " operating_day, record_count, esiid_count, size_bytes, key_fingerprint,"
                " placed_at) VALUES (:d, :n, 'interval', 'event', :day, 96, 1, 100, 'F', :p)"
            ),
            {"d": duns, "n": f"IntervalMeterUsage{duns}_x.zip.asc", "day": day, "p": now},
        )
        await connection.execute(
            text(
                "INSERT INTO ftps_retrievals (rep_duns, file_name, bytes_sent, completed,"
                " remote_address, started_at, finished_at)"
                " VALUES (:d, 'f.zip.asc', 100, true, '127.0.0.1', :t, :t)"
            ),
            {"d": duns, "t": now},
        )
    rep = bearer(make_token("rep", REP_A))
    deliveries = (await api.get("/v1/deliveries", headers=rep)).json()["deliveries"]
    assert {d["rep_duns"] for d in deliveries} == {REP_A}
    ours = [d for d in deliveries if d["operating_day"] == day.isoformat()]
    assert ours[0]["on_time"] is True and len(ours[0]["files"]) == 1
    assert (await api.get(f"/v1/deliveries?rep={REP_B}", headers=rep)).status_code == 403
    retrievals = (await api.get("/v1/retrievals", headers=rep)).json()["retrievals"]
    assert {r["rep_duns"] for r in retrievals} == {REP_A}
    assert retrievals[0]["remote_address"] == "127.0.0.1" and retrievals[0]["bytes"] == 100

    operator = bearer(make_token("operator"))
    everyone = (await api.get(f"/v1/deliveries?from={day}&to={day}", headers=operator)).json()
    assert {d["rep_duns"] for d in everyone["deliveries"]} >= {REP_A, REP_B}
    only_b = (await api.get(f"/v1/retrievals?rep={REP_B}", headers=operator)).json()
    assert {r["rep_duns"] for r in only_b["retrievals"]} == {REP_B}
    inverted = await api.get("/v1/deliveries?from=2026-10-21&to=2026-10-20", headers=operator)
    assert inverted.status_code == 400
    assert (
        await api.get("/v1/retrievals", headers=bearer(make_token("tdsp", "007924772")))
    ).status_code == 403


async def test_internal_delivery_only_for_services(
    service: Any, seeder: Any, make_token: Any, client_keys: Any, client: Any
) -> None:
    rep = await seeder.rep()
    transport = httpx.ASGITransport(app=service.app)
    report = b"ESIID,USAGE_DATE\n10443720000000001,10/01/2026\n"
    url = f"/internal/v1/deliveries?requester_duns={rep.duns}&file_name=AdhocReport_1.csv"
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        for role, duns in (("rep", rep.duns), ("operator", None), ("customer", None)):
            refused = await http.post(url, content=report, headers=bearer(make_token(role, duns)))
            assert refused.status_code == 403, role
        assert (await http.post(url, content=report)).status_code == 401
        token = bearer(make_token("service", client_id="usage-api"))
        bad_name = await http.post(
            url.replace("AdhocReport_1.csv", "..%2Fescape.csv"), content=report, headers=token
        )
        assert bad_name.status_code == 422
        no_key = await http.post(
            url.replace(rep.duns, (await seeder.rep(key=False)).duns), content=report, headers=token
        )
        assert no_key.status_code == 409
        placed = await http.post(url, content=report, headers=token)
        assert placed.status_code == 201, placed.text
        body = placed.json()
        assert body["file_name"] == "AdhocReport_1.csv.zip.asc"
        duplicate = await http.post(url, content=report, headers=token)
        assert duplicate.status_code == 409

    def fetch() -> bytes:
        with client.login(rep.duns) as ftp:
            return client.download(ftp, body["file_name"])

    entries = client_keys.decrypt_zip(await asyncio.to_thread(fetch))
    assert entries == {"AdhocReport_1.csv": report}
    row = await service.pool.fetchrow(
        "SELECT kind, source, size_bytes FROM ftps_published_files WHERE rep_duns = $1",
        rep.duns,
    )
    assert row["kind"] == "adhoc" and row["size_bytes"] == body["size_bytes"]
    assert not [p for p in rep.folder.iterdir() if p.name.startswith(".")]


async def test_retention_purges_old_files_and_keeps_logs(service: Any, seeder: Any) -> None:
    from meterhub_ftps_publisher.retention.service import purge

    rep = await seeder.rep()
    rep.folder.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    old, fresh = rep.folder / "IntervalMeterUsage_old.zip.asc", rep.folder / "Fresh.zip.asc"
    for path, age in ((old, 11), (fresh, 9)):
        path.write_bytes(b"data")
        stamp = (now - timedelta(days=age)).timestamp()
        os.utime(path, (stamp, stamp))
        await service.pool.execute(
            "INSERT INTO ftps_published_files (rep_duns, file_name, kind, source, record_count,"
            " esiid_count, size_bytes, key_fingerprint, placed_at)"
            " VALUES ($1, $2, 'adhoc', 'adhoc', 0, 0, 4, 'F', $3)",
            rep.duns,
            path.name,
            now - timedelta(days=age),
        )
    await service.pool.execute(
        "INSERT INTO ftps_retrievals (rep_duns, file_name, bytes_sent, completed, remote_address,"
        " started_at, finished_at) VALUES ($1, $2, 4, true, '127.0.0.1', $3, $3)",
        rep.duns,
        old.name,
        now - timedelta(days=10, hours=1),
    )
    report = await purge(service.pool, service.app.state.folders, 10, now=now)
    assert report.files_removed >= 1
    assert not old.exists() and fresh.exists()
    rows = {
        r["file_name"]: r["purged_at"]
        for r in await service.pool.fetch(
            "SELECT file_name, purged_at FROM ftps_published_files WHERE rep_duns = $1", rep.duns
        )
    }
    assert rows[old.name] is not None and rows[fresh.name] is None
    assert (
        await service.pool.fetchval(
            "SELECT count(*) FROM ftps_retrievals WHERE rep_duns = $1", rep.duns
        )
        == 1
    )


def test_zip_writer_output_is_a_valid_zip64_archive(tmp_path: Path) -> None:
    from meterhub_ftps_publisher.publishing.zipstream import ZipEntryWriter

    payload = b"ESIID,USAGE_KWH\n" + b"10443720000000001,0.123\n" * 50_000
    target = tmp_path / "out.zip"
    with open(target, "wb") as fh:
        writer = ZipEntryWriter(fh, "report.csv")
        for start in range(0, len(payload), 70_000):
            writer.write(payload[start : start + 70_000])
        result = writer.close()
    assert result.uncompressed_size == len(payload)
    assert result.total_size == target.stat().st_size < len(payload) // 10
    with zipfile.ZipFile(target) as archive:
        assert archive.testzip() is None
        assert archive.namelist() == ["report.csv"]
        assert archive.read("report.csv") == payload
    assert zipfile.ZipFile(io.BytesIO(target.read_bytes())).infolist()[0].file_size == len(payload)


def test_zip_writer_streams_into_a_pipe_with_a_data_descriptor(tmp_path: Path) -> None:
    import os
    import threading

    from meterhub_ftps_publisher.publishing.zipstream import ZipEntryWriter

    payload = b"ESIID,USAGE_KWH\n" + b"10443720000000001,0.123\n" * 50_000
    read_end, write_end = os.pipe()
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(os.fdopen(read_end, "rb").read()))
    reader.start()
    with os.fdopen(write_end, "wb") as pipe:
        writer = ZipEntryWriter(pipe, "report.csv")
        for start in range(0, len(payload), 70_000):
            writer.write(payload[start : start + 70_000])
        result = writer.close()
    reader.join()
    data = received[0]
    assert result.total_size == len(data) < len(payload) // 10
    (tmp_path / "piped.zip").write_bytes(data)
    with zipfile.ZipFile(tmp_path / "piped.zip") as archive:
        assert archive.testzip() is None
        info = archive.infolist()[0]
        assert info.flag_bits & 0x08  # CRC and sizes after the data
        assert info.file_size == len(payload)
        assert archive.read("report.csv") == payload


def test_file_names_are_deterministic_sortable_and_safe() -> None:
    from meterhub_ftps_publisher.publishing.folders import check_file_name, usage_file_stem

    stamp = datetime(2026, 11, 2, 15, 4, 5, tzinfo=UTC)
    name = usage_file_stem("interval", False, "148537214", date(2026, 11, 1), stamp, 42)
    assert name == "IntervalMeterUsage148537214_20261101_20261102150405_000000000042"
    later = usage_file_stem("interval", False, "148537214", date(2026, 11, 1), stamp, 43)
    assert sorted([later, name]) == [name, later]
    supplemental = usage_file_stem("daily", True, "148537214", date(2026, 11, 1), stamp, 1)
    assert supplemental.startswith("DailyMeterUsageSupplemental148537214_")
    for bad in ["../x", ".hidden", "a/b", "", "x..y"]:
        with pytest.raises(ValueError):
            check_file_name(bad)


def test_deadline_and_sweep_times_are_central() -> None:
    from datetime import time

    from meterhub_ftps_publisher.publishing.service import delivery_deadline
    from meterhub_ftps_publisher.publishing.worker import next_run

    # 10:00 Central (CDT, UTC-5) on Oct 14 -> due 23:00 Central that day = 04:00 UTC Oct 15.
    received = datetime(2026, 10, 14, 15, 0, tzinfo=UTC)
    assert delivery_deadline(received, time(23)) == datetime(2026, 10, 15, 4, 0, tzinfo=UTC)
    # Arriving after 23:00 Central: due the next evening.
    late = datetime(2026, 10, 15, 4, 30, tzinfo=UTC)
    assert delivery_deadline(late, time(23)) == datetime(2026, 10, 16, 4, 0, tzinfo=UTC)
    # Sweep at 21:30 Central; in November (CST, UTC-6).
    assert next_run(datetime(2026, 11, 10, 12, 0, tzinfo=UTC), time(21, 30)) == datetime(
        2026, 11, 11, 3, 30, tzinfo=UTC
    )


def test_create_app_starts_from_environment_only(
    monkeypatch: pytest.MonkeyPatch, common_settings: dict[str, object], tmp_path: Path
) -> None:
    monkeypatch.setenv("DATABASE_URL", str(common_settings["database_url"]))
    monkeypatch.setenv("MH_TOKEN_PUBLIC_KEY_FILE", str(common_settings["token_public_key_file"]))
    monkeypatch.setenv("MH_FTPS_ROOT", str(tmp_path / "root"))
    monkeypatch.setenv("MH_FTPS_PASSIVE_PORTS", "60100-60110")
    app = create_app()
    settings = app.state.settings
    assert settings.root == tmp_path / "root" and settings.passive_port_range()[0] == 60100
    assert settings.retention_days == 10
    assert not (tmp_path / "root").exists()  # nothing touched before the lifespan
