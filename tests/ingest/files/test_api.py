"""The file API: upload, idempotency, who sees what, listing, the public key."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from meterhub_devstack.testing import bind_database_to
from meterhub_ingest.files.pipeline import LoadContext, kind_supported
from meterhub_ingest.main import create_app
from meterhub_ingest.settings import IngestSettings
from tests.ingest.files.conftest import (
    OTHER_TDSP,
    SENDER,
    Keys,
    add_esiids,
    esiid,
    load,
    lse_bytes,
    record,
    seal,
    send,
    zipped,
)


async def test_upload_answers_202_at_once_and_stores_the_bytes(
    client: httpx.AsyncClient, auth: dict[str, str], keys: Keys, connection: AsyncConnection
) -> None:
    body = seal(keys, lse_bytes([record(1)]))
    response = await client.post(
        "/v1/files",
        params={"kind": "lse", "filename": "x/007924772IntervalData.lse"},
        content=body,
        headers=auth,
    )
    assert response.status_code == 202
    accepted = response.json()
    assert accepted["status"] == "received" and accepted["duplicate"] is False
    assert response.headers["location"] == f"/v1/files/{accepted['file_id']}"

    stored = (
        await connection.execute(
            text(
                "SELECT f.sender_duns, f.kind, f.filename, f.encrypted, f.size_bytes, f.via, "
                "b.content FROM tdsp_files f JOIN tdsp_file_blobs b ON b.file_id = f.id "
                "WHERE f.id = :id"
            ),
            {"id": accepted["file_id"]},
        )
    ).one()
    assert stored.sender_duns == SENDER and stored.kind == "lse" and stored.via == "api"
    assert stored.filename == "007924772IntervalData.lse"  # no client-side folders kept
    assert stored.encrypted is True and stored.size_bytes == len(body)
    assert bytes(stored.content) == body

    view = (await client.get(f"/v1/files/{accepted['file_id']}", headers=auth)).json()
    assert view["status"] == "received"
    assert view["counts"] == {"total": None, "loaded": None, "rejected": None, "unchanged": None}
    assert view["error"] is None and view["finished_at"] is None


async def test_same_bytes_same_sender_is_the_same_file_and_loads_once(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    keys: Keys,
    connection: AsyncConnection,
    raw: asyncpg.Connection,
    ctx: LoadContext,
) -> None:
    await add_esiids(connection, [esiid(1)])
    body = seal(keys, lse_bytes([record(1)]))
    first = await send(client, auth, body)
    again = await send(client, auth, body)
    assert again["file_id"] == first["file_id"] and again["duplicate"] is True
    outcomes = await load(raw, ctx)
    assert [o.status for o in outcomes] == ["loaded"]
    # After loading, the same bytes still answer with the same id, and nothing loads again.
    third = await send(client, auth, body)
    assert third == {"file_id": first["file_id"], "status": "loaded", "duplicate": True}
    assert await load(raw, ctx) == []
    versions = await connection.scalar(
        text("SELECT count(*) FROM interval_reads WHERE esiid = :e"), {"e": esiid(1)}
    )
    assert versions == 1
    files = await connection.scalar(
        text("SELECT count(*) FROM tdsp_files WHERE id = :id"), {"id": first["file_id"]}
    )
    assert files == 1


async def test_only_tdsps_may_send(client: httpx.AsyncClient, make_token: Any, keys: Keys) -> None:
    body = seal(keys, lse_bytes([record(1)]))
    no_token = await client.post("/v1/files", params={"kind": "lse"}, content=body)
    assert no_token.status_code == 401
    rep = {"Authorization": f"Bearer {make_token('rep', '123456789')}"}
    response = await client.post("/v1/files", params={"kind": "lse"}, content=body, headers=rep)
    assert response.status_code == 403 and response.json()["error"] == "forbidden"
    bad_kind = await client.post(
        "/v1/files",
        params={"kind": "pdf"},
        content=body,
        headers={"Authorization": f"Bearer {make_token('tdsp', SENDER)}"},
    )
    assert bad_kind.status_code == 422


async def test_unencrypted_refused_unless_allowed(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    settings: IngestSettings,
    connection: AsyncConnection,
    raw: asyncpg.Connection,
    ctx: LoadContext,
) -> None:
    plain = lse_bytes([record(1)])
    for body in (plain, zipped(plain)):
        response = await client.post(
            "/v1/files", params={"kind": "lse"}, content=body, headers=auth
        )
        assert response.status_code == 415
        assert "PGP" in response.json()["detail"]

    await add_esiids(connection, [esiid(1), esiid(2)])
    allowing = create_app(settings.model_copy(update={"allow_unencrypted": True}))
    bind_database_to(allowing.state.database, connection)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=allowing), base_url="https://ingest.test"
    ) as open_client:
        as_text = await send(open_client, auth, plain)
        as_zip = await send(open_client, auth, zipped(lse_bytes([record(2)])))
    outcomes = {str(o.file_id): o for o in await load(raw, ctx)}
    assert outcomes[as_text["file_id"]].status == "loaded"
    assert outcomes[as_zip["file_id"]].status == "loaded"
    encrypted = await connection.scalar(
        text("SELECT bool_or(encrypted) FROM tdsp_files WHERE id IN (:a, :b)"),
        {"a": as_text["file_id"], "b": as_zip["file_id"]},
    )
    assert encrypted is False


async def test_size_limit_and_empty_body(
    settings: IngestSettings, connection: AsyncConnection, auth: dict[str, str], keys: Keys
) -> None:
    small = create_app(settings.model_copy(update={"max_upload_bytes": 1000}))
    bind_database_to(small.state.database, connection)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=small), base_url="https://ingest.test"
    ) as c:
        big = seal(keys, lse_bytes([record(i) for i in range(1, 6)]))
        assert len(big) > 1000
        response = await c.post("/v1/files", params={"kind": "lse"}, content=big, headers=auth)
        assert response.status_code == 413

        async def chunked() -> Any:  # no Content-Length: refused while reading
            for start in range(0, len(big), 256):
                yield big[start : start + 256]

        response = await c.post(
            "/v1/files", params={"kind": "lse"}, content=chunked(), headers=auth
        )
        assert response.status_code == 413
        empty = await c.post("/v1/files", params={"kind": "lse"}, content=b"", headers=auth)
        assert empty.status_code == 400
    stored = await connection.scalar(text("SELECT count(*) FROM tdsp_files"))
    assert stored == 0


async def test_a_tdsp_sees_only_its_own_files_operators_see_all(
    client: httpx.AsyncClient, auth: dict[str, str], make_token: Any, keys: Keys
) -> None:
    mine = await send(client, auth, seal(keys, lse_bytes([record(1)])))
    other_auth = {"Authorization": f"Bearer {make_token('tdsp', OTHER_TDSP)}"}
    theirs = await send(client, other_auth, seal(keys, lse_bytes([record(1)])))

    for path in ("", "/report"):
        response = await client.get(f"/v1/files/{theirs['file_id']}{path}", headers=auth)
        assert response.status_code == 404 and response.json()["error"] == "not_found"
        assert (await client.get(f"/v1/files/{mine['file_id']}{path}", headers=auth)).is_success

    listed = (await client.get("/v1/files", headers=auth)).json()
    assert [f["file_id"] for f in listed["files"]] == [mine["file_id"]]

    operator = {"Authorization": f"Bearer {make_token('operator')}"}
    view = await client.get(f"/v1/files/{theirs['file_id']}", headers=operator)
    assert view.status_code == 200 and view.json()["sender_duns"] == OTHER_TDSP
    everything = (await client.get("/v1/files", headers=operator)).json()["files"]
    assert {mine["file_id"], theirs["file_id"]} <= {f["file_id"] for f in everything}

    rep = {"Authorization": f"Bearer {make_token('rep', '123456789')}"}
    assert (await client.get(f"/v1/files/{mine['file_id']}", headers=rep)).status_code == 403


async def test_listing_is_newest_first_and_paginates(
    client: httpx.AsyncClient, auth: dict[str, str], keys: Keys
) -> None:
    sent = [
        (await send(client, auth, seal(keys, lse_bytes([record(i)]))))["file_id"]
        for i in range(1, 6)
    ]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/v1/files", params=params, headers=auth)).json()
        seen += [f["file_id"] for f in page["files"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(sent))
    assert pages == 3
    bad = await client.get("/v1/files", params={"cursor": "!!!"}, headers=auth)
    assert bad.status_code == 400


async def test_public_key_needs_no_token(client: httpx.AsyncClient, keys: Keys) -> None:
    response = await client.get("/v1/pgp-key")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/pgp-keys")
    assert response.headers["x-pgp-fingerprint"] == keys.repo_fpr
    assert "BEGIN PGP PUBLIC KEY BLOCK" in response.text
    info = keys.tdsp.inspect_public_key(response.text)
    assert info.fingerprint == keys.repo_fpr


@pytest.mark.parametrize("kind", ["meter-sync", "register-reads", "monthly-usage"])
async def test_csv_kinds_are_accepted_when_their_loader_is_deployed(
    client: httpx.AsyncClient, auth: dict[str, str], keys: Keys, kind: str, app: FastAPI
) -> None:
    response = await client.post(
        "/v1/files", params={"kind": kind}, content=seal(keys, b"a,b\n1,2\n"), headers=auth
    )
    expected = 202 if kind_supported(kind) else 422
    assert response.status_code == expected
