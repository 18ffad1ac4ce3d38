"""POST /v1/token (RFC 6749): client credentials, password grant, errors, lockout, expiry."""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from datetime import date
from pathlib import Path

import httpx
import pytest

from meterhub_common.errors import Unauthorized
from meterhub_usage_api.security import CachingTokenVerifier
from tests.usage_api.conftest import REP_A, AppFactory, Builder, bearer

SECRET = "s3cret-for-tests"


@pytest.fixture
async def rep_client(data: Builder) -> str:
    entity = await data.entity("rep", REP_A)
    client_id = f"rep-{uuid.uuid4().hex[:8]}"
    await data.api_client(entity, client_id, SECRET)
    return client_id


def form(**fields: str) -> dict[str, str]:
    return fields


async def me(client: httpx.AsyncClient, token: str) -> dict[str, str]:
    response = await client.get("/v1/me", headers=bearer(token))
    assert response.status_code == 200, response.text
    body: dict[str, str] = response.json()
    return body


async def test_client_credentials_in_the_form(client: httpx.AsyncClient, rep_client: str) -> None:
    response = await client.post(
        "/v1/token",
        data=form(grant_type="client_credentials", client_id=rep_client, client_secret=SECRET),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert response.headers["cache-control"] == "no-store"
    who = await me(client, body["access_token"])
    assert who["role"] == "rep" and who["duns"] == REP_A and who["client_id"] == rep_client


async def test_client_credentials_in_http_basic(client: httpx.AsyncClient, rep_client: str) -> None:
    basic = base64.b64encode(f"{rep_client}:{SECRET}".encode()).decode()
    response = await client.post(
        "/v1/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert response.status_code == 200, response.text
    assert (await me(client, response.json()["access_token"]))["client_id"] == rep_client


async def test_a_token_from_the_endpoint_reads_usage(
    client: httpx.AsyncClient, rep_client: str, data: Builder
) -> None:
    esiid = await data.esiid()
    await data.service(esiid, REP_A, date(2026, 1, 1))
    await data.intervals(esiid, date(2026, 11, 2))
    issued = await client.post(
        "/v1/token",
        data=form(grant_type="client_credentials", client_id=rep_client, client_secret=SECRET),
    )
    read = await client.get(
        f"/v1/esiids/{esiid}/intervals?start=2026-11-02&end=2026-11-02",
        headers=bearer(issued.json()["access_token"]),
    )
    assert read.status_code == 200
    assert len(read.json()["days"][0]["intervals"]) == 96


async def test_wrong_secret_and_unknown_client_look_the_same(
    client: httpx.AsyncClient, rep_client: str
) -> None:
    wrong = await client.post(
        "/v1/token",
        data=form(grant_type="client_credentials", client_id=rep_client, client_secret="nope"),
    )
    unknown = await client.post(
        "/v1/token",
        data=form(grant_type="client_credentials", client_id="nobody", client_secret="nope"),
    )
    for response in (wrong, unknown):
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Basic")
        assert response.json() == {
            "error": "invalid_client",
            "detail": "unknown client_id or wrong client_secret",
            "error_description": "unknown client_id or wrong client_secret",
        }


async def test_a_disabled_client_is_refused(client: httpx.AsyncClient, data: Builder) -> None:
    entity = await data.entity("rep", "121212121")
    await data.api_client(entity, "rep-disabled", SECRET, disabled=True)
    response = await client.post(
        "/v1/token",
        data=form(grant_type="client_credentials", client_id="rep-disabled", client_secret=SECRET),
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert "disabled" in response.json()["detail"]


async def test_password_grant_for_customers(client: httpx.AsyncClient, data: Builder) -> None:
    username = f"pat-{uuid.uuid4().hex[:8]}"
    entity = await data.customer(username, "correct horse")
    good = await client.post(
        "/v1/token", data=form(grant_type="password", username=username, password="correct horse")
    )
    assert good.status_code == 200, good.text
    who = await me(client, good.json()["access_token"])
    assert who == {
        "client_id": f"customer:{username}",
        "entity_id": str(entity),
        "role": "customer",
        "duns": None,
    }
    bad = await client.post(
        "/v1/token", data=form(grant_type="password", username=username, password="wrong")
    )
    assert bad.status_code == 400
    assert bad.json()["error"] == "invalid_grant"


async def test_protocol_errors(client: httpx.AsyncClient) -> None:
    unsupported = await client.post("/v1/token", data=form(grant_type="authorization_code"))
    assert unsupported.status_code == 400
    assert unsupported.json()["error"] == "unsupported_grant_type"
    missing = await client.post("/v1/token", data=form(client_id="x"))
    assert missing.status_code == 400
    assert missing.json()["error"] == "invalid_request"
    no_secret = await client.post("/v1/token", data=form(grant_type="client_credentials"))
    assert no_secret.status_code == 401
    assert no_secret.json()["error"] == "invalid_client"
    no_password = await client.post("/v1/token", data=form(grant_type="password", username="u"))
    assert no_password.status_code == 400
    assert no_password.json()["error"] == "invalid_request"


async def test_repeated_failures_lock_the_client_out(
    app_factory: AppFactory, rep_client: str, data: Builder
) -> None:
    app = app_factory(token_max_failures=3, token_lockout_seconds=2)
    other_entity = await data.entity("rep", "343434343")
    await data.api_client(other_entity, "rep-bystander", SECRET)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://usage.test") as client:

        async def attempt(secret: str, client_id: str = rep_client) -> httpx.Response:
            return await client.post(
                "/v1/token",
                data=form(
                    grant_type="client_credentials", client_id=client_id, client_secret=secret
                ),
            )

        assert (await attempt("bad")).status_code == 401
        assert (await attempt("bad")).status_code == 401
        third = await attempt("bad")
        assert third.status_code == 429
        assert 1 <= int(third.headers["retry-after"]) <= 2
        # Locked: even the right secret is refused, without a word about whether it is right.
        locked = await attempt(SECRET)
        assert locked.status_code == 429
        assert locked.json()["error"] == "too_many_requests"
        # Other clients are not affected.
        assert (await attempt(SECRET, "rep-bystander")).status_code == 200
        await asyncio.sleep(2.1)
        assert (await attempt(SECRET)).status_code == 200


async def test_a_success_resets_the_failure_count(app_factory: AppFactory, rep_client: str) -> None:
    app = app_factory(token_max_failures=2)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://usage.test") as client:

        async def attempt(secret: str) -> int:
            response = await client.post(
                "/v1/token",
                data=form(
                    grant_type="client_credentials", client_id=rep_client, client_secret=secret
                ),
            )
            return response.status_code

        assert [await attempt("bad"), await attempt(SECRET), await attempt("bad")] == [
            401,
            200,
            401,
        ]


async def test_expired_tokens_are_refused_by_reads(
    client: httpx.AsyncClient, make_token, data: Builder
) -> None:
    esiid = await data.esiid()
    expired = make_token("rep", REP_A, now=time.time() - 3600)
    response = await client.get(
        f"/v1/esiids/{esiid}/intervals?start=2026-11-02&end=2026-11-02", headers=bearer(expired)
    )
    assert response.status_code == 401
    assert response.json()["detail"] == "the bearer token has expired"
    missing = await client.get(f"/v1/esiids/{esiid}/intervals?start=2026-11-02&end=2026-11-02")
    assert missing.status_code == 401


def test_a_cached_token_still_expires(
    token_keys: tuple[Path, Path], make_token, monkeypatch: pytest.MonkeyPatch
) -> None:
    verifier = CachingTokenVerifier(token_keys[1].read_bytes(), issuer="meterhub")
    token = make_token("rep", REP_A)  # valid for 900 s
    assert verifier.verify(token).duns == REP_A
    assert verifier.verify(token).duns == REP_A  # from the cache
    later = time.time() + 901
    monkeypatch.setattr(time, "time", lambda: later)
    with pytest.raises(Unauthorized, match="expired"):
        verifier.verify(token)
