"""The upload page over HTTP: sign-in, the session cookie, CSRF, upload and the report page."""

from __future__ import annotations

import re
from dataclasses import replace

import asyncpg
import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from meterhub_ingest.files.pipeline import LoadContext
from tests.ingest.files.conftest import (
    OTHER_TDSP,
    Keys,
    add_esiids,
    esiid,
    load,
    lse_bytes,
    record,
    seal,
    send,
)
from tests.ingest.upload.conftest import Credentials, add_client


def _csrf(page: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match, "the form carries a CSRF token"
    return match.group(1)


async def _sign_in(client: httpx.AsyncClient, creds: Credentials) -> httpx.Response:
    page = await client.get("/upload")
    return await client.post(
        "/upload/sign-in",
        data={
            "csrf": _csrf(page.text),
            "client_id": creds.client_id,
            "client_secret": creds.secret,
        },
    )


async def test_first_visit_sets_a_strict_secure_http_only_cookie(client: httpx.AsyncClient) -> None:
    response = await client.get("/upload")
    assert response.status_code == 200
    assert "Sign in" in response.text and 'type="password"' in response.text
    assert "<script" not in response.text  # works without JavaScript
    cookie = response.headers["set-cookie"]
    for attribute in ("HttpOnly", "Secure", "SameSite=strict", "Path=/upload"):
        assert attribute.lower() in cookie.lower()
    assert response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["cache-control"] == "no-store"


async def test_sign_in_checks_csrf_secret_and_role(
    client: httpx.AsyncClient, tdsp: Credentials, connection: AsyncConnection
) -> None:
    page = await client.get("/upload")
    no_token = await client.post(
        "/upload/sign-in", data={"client_id": tdsp.client_id, "client_secret": tdsp.secret}
    )
    assert no_token.status_code == 403 and "expired" in no_token.text
    wrong = await client.post(
        "/upload/sign-in",
        data={"csrf": _csrf(page.text), "client_id": tdsp.client_id, "client_secret": "nope"},
    )
    assert wrong.status_code == 401
    assert "The client id or secret is wrong" in wrong.text
    assert "Upload a file" not in wrong.text

    rep = await add_client(connection, duns="123456789", role="rep", name="A REP")
    as_rep = await _sign_in(client, rep)
    assert as_rep.status_code == 401

    disabled = await add_client(connection, duns="987654321", name="Disabled TDSP")
    await connection.execute(
        text("UPDATE api_clients SET disabled_at = now() WHERE client_id = :c"),
        {"c": disabled.client_id},
    )
    assert (await _sign_in(client, disabled)).status_code == 401

    good = await _sign_in(client, tdsp)
    assert good.status_code == 303 and good.headers["location"] == "/upload"
    home = await client.get("/upload")
    assert "Upload a file" in home.text and tdsp.duns in home.text
    # Signing in issued a new CSRF token.
    assert _csrf(home.text) != _csrf(page.text)

    out = await client.post("/upload/sign-out", data={"csrf": _csrf(home.text)})
    assert out.status_code == 303
    assert "Sign in" in (await client.get("/upload")).text


async def test_a_forged_cookie_is_not_a_session(client: httpx.AsyncClient) -> None:
    client.cookies.set("mh_upload_session", "eyJjc3JmIjoieCJ9.forged.sig", path="/upload")
    page = await client.get("/upload")
    assert "Sign in" in page.text


async def test_upload_then_read_the_report_page(
    client: httpx.AsyncClient,
    tdsp: Credentials,
    keys: Keys,
    connection: AsyncConnection,
    raw: asyncpg.Connection,
    ctx: LoadContext,
) -> None:
    await add_esiids(connection, [esiid(1), esiid(2)])
    await _sign_in(client, tdsp)
    home = await client.get("/upload")
    bad = lse_bytes([record(2)]).replace(b"10000002,", b"10000002,x", 1)
    files = {
        "file": ("007924772IntervalData.lse.zip.pgp", seal(keys, lse_bytes([record(1)]) + bad))
    }

    stale = await client.post("/upload/files", data={"csrf": "wrong", "kind": "lse"}, files=files)
    assert stale.status_code == 403

    sent = await client.post(
        "/upload/files", data={"csrf": _csrf(home.text), "kind": "lse"}, files=files
    )
    assert sent.status_code == 303
    location = sent.headers["location"]
    file_id = location.rsplit("/", 1)[-1]
    waiting = await client.get(location)
    assert waiting.status_code == 200
    assert 'http-equiv="refresh"' in waiting.text and "received" in waiting.text
    via = await connection.scalar(
        text("SELECT via FROM tdsp_files WHERE id = :id"), {"id": file_id}
    )
    assert via == "upload-page"

    await load(raw, ctx)
    done = await client.get(location)
    assert 'http-equiv="refresh"' not in done.text
    assert "partially loaded" in done.text
    rows = re.findall(r'<tr class="code-(\d\d)">\s*<td class="num">(\d+)</td>', done.text)
    assert rows == [("00", "1"), ("01", "31")]
    assert "x" in done.text and "not a number" in done.text

    csv_report = await client.get(f"{location}/report.csv")
    assert csv_report.status_code == 200
    assert csv_report.text.splitlines()[2].startswith("31,01,")
    listed = await client.get("/upload")
    assert file_id in listed.text


async def test_upload_page_errors_are_shown_on_the_page(
    client: httpx.AsyncClient, tdsp: Credentials
) -> None:
    await _sign_in(client, tdsp)
    token = _csrf((await client.get("/upload")).text)
    plain = await client.post(
        "/upload/files",
        data={"csrf": token, "kind": "lse"},
        files={"file": ("plain.lse", lse_bytes([record(1)]))},
    )
    assert plain.status_code == 415
    assert "PGP" in plain.text and 'role="alert"' in plain.text
    no_kind = await client.post(
        "/upload/files",
        data={"csrf": token, "kind": "zip"},
        files={"file": ("a.pgp", b"\x85abc")},
    )
    assert no_kind.status_code == 400 and "Pick the kind" in no_kind.text


async def test_another_tdsps_file_is_not_shown(
    client: httpx.AsyncClient,
    tdsp: Credentials,
    keys: Keys,
    make_token: object,
) -> None:
    other = {"Authorization": f"Bearer {make_token('tdsp', OTHER_TDSP)}"}  # type: ignore[operator]
    theirs = await send(client, other, seal(keys, lse_bytes([replace(record(1))])))
    await _sign_in(client, tdsp)
    page = await client.get(f"/upload/files/{theirs['file_id']}")
    assert page.status_code == 404
    assert (await client.get(f"/upload/files/{theirs['file_id']}/report.csv")).status_code == 404


async def test_pages_need_a_session(client: httpx.AsyncClient) -> None:
    for path in ("/upload/files/00000000-0000-0000-0000-000000000000",):
        response = await client.get(path)
        assert response.status_code == 303 and response.headers["location"] == "/upload"
    response = await client.post("/upload/files", data={"kind": "lse"})
    assert response.status_code == 303
