"""Every read is audited (404s too), written in batches, and readable by operators only."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from meterhub_common.errors import ServiceUnavailable
from meterhub_usage_api.audit.writer import AuditEntry, AuditWriter
from tests.usage_api.conftest import REP_A, Builder, bearer


async def test_reads_are_audited_and_operators_query_them(
    app: FastAPI, client: httpx.AsyncClient, data: Builder, connection: AsyncConnection, make_token
) -> None:
    rep_entity = await data.entity("rep", REP_A)
    esiid, other = await data.esiid(), await data.esiid()
    await data.service(esiid, REP_A, date(2026, 1, 1))
    for day in (date(2026, 11, 1), date(2026, 11, 2)):
        await data.intervals(esiid, day)
    rep = bearer(make_token("rep", REP_A, entity_id=rep_entity, client_id="rep-audited"))
    ok = await client.get(
        f"/v1/esiids/{esiid}/intervals?start=2026-11-01&end=2026-11-03",
        headers={**rep, "X-Request-ID": "req-1"},
    )
    assert ok.status_code == 200
    probe = await client.get(
        f"/v1/esiids/{other}/intervals?start=2026-11-01&end=2026-11-01", headers=rep
    )
    assert probe.status_code == 404
    assert await app.state.audit.flush() == 2
    stored = (
        await connection.execute(
            text(
                "SELECT entity_id, role, client_id, endpoint, esiid, range_start, range_end,"
                " row_count, status_code, request_id FROM read_audit WHERE entity_id = :e"
                " ORDER BY id"
            ),
            {"e": rep_entity},
        )
    ).all()
    assert [tuple(row) for row in stored] == [
        (
            rep_entity,
            "rep",
            "rep-audited",
            "GET /v1/esiids/{esiid}/intervals",
            esiid,
            date(2026, 11, 1),
            date(2026, 11, 3),
            2,
            200,
            "req-1",
        ),
        (
            rep_entity,
            "rep",
            "rep-audited",
            "GET /v1/esiids/{esiid}/intervals",
            other,
            date(2026, 11, 1),
            date(2026, 11, 1),
            0,
            404,
            stored[1].request_id,
        ),
    ]

    operator = bearer(make_token("operator"))
    by_esiid = (await client.get(f"/v1/audit?esiid={esiid}", headers=operator)).json()
    assert [(e["esiid"], e["row_count"], e["status_code"]) for e in by_esiid["entries"]] == [
        (esiid, 2, 200)
    ]
    by_entity = (await client.get(f"/v1/audit?entity={rep_entity}", headers=operator)).json()
    assert [e["esiid"] for e in by_entity["entries"]] == [other, esiid]  # newest first
    by_duns = (await client.get(f"/v1/audit?entity={REP_A}", headers=operator)).json()
    assert len(by_duns["entries"]) == 2
    page = (await client.get(f"/v1/audit?entity={rep_entity}&limit=1", headers=operator)).json()
    assert [e["esiid"] for e in page["entries"]] == [other]
    rest = (
        await client.get(
            f"/v1/audit?entity={rep_entity}&limit=1",
            params={"before": page["next_before"]},
            headers=operator,
        )
    ).json()
    assert [e["esiid"] for e in rest["entries"]] == [esiid]
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    later = await client.get(
        "/v1/audit", params={"entity": str(rep_entity), "from": tomorrow}, headers=operator
    )
    assert later.json()["entries"] == []


async def test_only_operators_read_the_audit(client: httpx.AsyncClient, make_token) -> None:
    assert (await client.get("/v1/audit")).status_code == 401
    for role in ("rep", "tdsp", "customer", "regulator", "csp"):
        response = await client.get("/v1/audit", headers=bearer(make_token(role, "123456789")))
        assert response.status_code == 403, role
    bad_entity = await client.get("/v1/audit?entity=acme", headers=bearer(make_token("operator")))
    assert bad_entity.status_code == 422


def entry(esiid: str = "10443720000000001") -> AuditEntry:
    return AuditEntry(
        datetime.now(UTC),
        uuid.uuid4(),
        "rep",
        "c",
        "GET /x",
        esiid,
        None,
        None,
        0,
        404,
        None,
    )


async def test_failed_writes_stay_pending_and_a_full_backlog_refuses_reads(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = AuditWriter(app.state.database, max_pending=2)

    async def broken(batch: list[AuditEntry]) -> None:
        raise OSError("database unreachable")

    monkeypatch.setattr(writer, "_write", broken)
    writer.record(entry())
    with pytest.raises(OSError):
        await writer.flush()
    assert writer.pending == 1
    writer.record(entry())
    with pytest.raises(ServiceUnavailable):
        writer.record(entry())
    monkeypatch.undo()
    assert await writer.flush() == 2
    assert writer.pending == 0


async def test_a_full_backlog_answers_503_not_unaudited_data(
    app: FastAPI, client: httpx.AsyncClient, make_token
) -> None:
    app.state.audit = AuditWriter(app.state.database, max_pending=1)
    app.state.audit.record(entry())
    response = await client.get(
        "/v1/esiids/10443720000000001/intervals?start=2026-11-01&end=2026-11-01",
        headers=bearer(make_token("rep", REP_A)),
    )
    assert response.status_code == 503
    assert response.json()["error"] == "service_unavailable"


async def test_the_background_writer_flushes_on_its_own(
    app: FastAPI, connection: AsyncConnection
) -> None:
    writer = AuditWriter(app.state.database, flush_interval=0.05)
    marker = "10443720999999999"
    writer.record(entry(marker))
    writer.start()
    try:
        for _ in range(100):
            if writer.pending == 0:
                break
            await asyncio.sleep(0.02)
    finally:
        await writer.stop()
    count = (
        await connection.execute(
            text("SELECT count(*) FROM read_audit WHERE esiid = :e"), {"e": marker}
        )
    ).scalar_one()
    assert count == 1
