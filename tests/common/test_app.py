"""The app skeleton every service shares: health, readiness, errors, request ids, tokens."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter, FastAPI

from meterhub_common.app import build_app
from meterhub_common.auth import generate_signing_key
from meterhub_common.db import async_url
from meterhub_common.errors import Conflict
from meterhub_common.settings import ServiceSettings
from meterhub_devstack.pg import free_port


def make_app(settings: ServiceSettings, routers: list[APIRouter] | None = None) -> FastAPI:
    return build_app(service="test", settings=settings, routers=routers or [])


def client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


@pytest.fixture
def settings(common_settings: dict[str, object]) -> ServiceSettings:
    return ServiceSettings(**common_settings)  # type: ignore[arg-type]


async def test_healthz_answers_without_a_database(common_settings: dict[str, object]) -> None:
    dead = ServiceSettings(
        **{
            **common_settings,  # type: ignore[arg-type]
            "database_url": f"postgresql://x@127.0.0.1:{free_port()}/none",
        }
    )
    async with client(make_app(dead)) as c:
        response = await c.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_is_503_when_the_database_is_down(common_settings: dict[str, object]) -> None:
    dead = ServiceSettings(
        **{
            **common_settings,  # type: ignore[arg-type]
            "database_url": f"postgresql://x@127.0.0.1:{free_port()}/none",
        }
    )
    async with client(make_app(dead)) as c:
        response = await c.get("/readyz")
    assert response.status_code == 503
    assert response.json()["error"] == "not_ready"
    assert "database unreachable" in response.json()["detail"]


async def test_readyz_is_503_when_migrations_are_not_at_head(
    common_settings: dict[str, object], empty_database_url: str
) -> None:
    unmigrated = ServiceSettings(
        **{**common_settings, "database_url": async_url(empty_database_url)}  # type: ignore[arg-type]
    )
    async with client(make_app(unmigrated)) as c:
        response = await c.get("/readyz")
    assert response.status_code == 503


async def test_readyz_is_200_at_head(settings: ServiceSettings) -> None:
    async with client(make_app(settings)) as c:
        response = await c.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "ready"


async def test_typed_errors_render_as_json(settings: ServiceSettings) -> None:
    router = APIRouter()

    @router.get("/boom")
    async def boom() -> None:
        raise Conflict("file 42 is already being processed")

    async with client(make_app(settings, [router])) as c:
        response = await c.get("/boom")
        missing = await c.get("/nowhere")
    assert response.status_code == 409
    assert response.json() == {"error": "conflict", "detail": "file 42 is already being processed"}
    assert missing.status_code == 404
    assert missing.json()["error"] == "not_found"


async def test_request_id_is_echoed_or_made(settings: ServiceSettings) -> None:
    async with client(make_app(settings)) as c:
        given = await c.get("/healthz", headers={"X-Request-ID": "abc123"})
        made = await c.get("/healthz")
    assert given.headers["X-Request-ID"] == "abc123"
    assert len(made.headers["X-Request-ID"]) == 32


async def test_me_requires_a_valid_token(
    settings: ServiceSettings, make_token, tmp_path: Path
) -> None:
    app = make_app(settings)
    other_private, other_public = tmp_path / "k", tmp_path / "k.pub"
    generate_signing_key(other_private, other_public)
    import uuid

    from meterhub_common.auth import Principal, TokenIssuer
    from meterhub_common.models.usage_api import Role

    forger = TokenIssuer(other_private.read_bytes(), issuer="meterhub")
    forged = forger.issue(Principal(uuid.uuid4(), Role.OPERATOR, None, "evil"))
    expired = make_token("rep", "123456789", now=time.time() - 3600)
    good = make_token("rep", "123456789", client_id="rep-one")
    async with client(app) as c:
        missing = await c.get("/v1/me")
        bad_forged = await c.get("/v1/me", headers={"Authorization": f"Bearer {forged}"})
        bad_expired = await c.get("/v1/me", headers={"Authorization": f"Bearer {expired}"})
        ok = await c.get("/v1/me", headers={"Authorization": f"Bearer {good}"})
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert bad_forged.status_code == 401
    assert bad_forged.json()["detail"] == "the bearer token is not valid"
    assert bad_expired.status_code == 401
    assert bad_expired.json()["detail"] == "the bearer token has expired"
    assert ok.status_code == 200
    assert ok.json()["role"] == "rep" and ok.json()["client_id"] == "rep-one"


def test_requests_are_traced_only_when_traces_are_exported(
    settings: ServiceSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    quiet = make_app(settings)
    assert not getattr(quiet, "_is_instrumented_by_opentelemetry", False)

    # Checked when the app is built; the providers (and their exporters) are set up once per
    # process, so no exporter is started against this address.
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    traced = make_app(settings)
    try:
        assert getattr(traced, "_is_instrumented_by_opentelemetry", False)
    finally:
        FastAPIInstrumentor.uninstrument_app(traced)
        SQLAlchemyInstrumentor().uninstrument()


async def test_log_lines_carry_a_trace_id_without_exported_traces(
    settings: ServiceSettings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import json
    import logging

    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    router = APIRouter()

    @router.get("/speak")
    async def speak() -> dict[str, str]:
        logging.getLogger("test.speak").warning("spoken")
        return {}

    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    app = make_app(settings, [router])  # its JSON log handler writes to the captured stdout
    capsys.readouterr()
    async with client(app) as c:
        await c.get("/speak", headers={"traceparent": f"00-{trace}-00f067aa0ba902b7-01"})
        await c.get("/speak", headers={"traceparent": "garbage"})
        await c.get("/speak")
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "spoken" in line]
    ids = [line["trace_id"] for line in lines]
    assert ids[0] == trace
    assert len(ids[1]) == 32 and ids[1] != trace
    assert len(ids[2]) == 32 and ids[2] not in (ids[0], ids[1])


async def test_objects_alive_after_startup_are_out_of_the_collectors_reach(
    settings: ServiceSettings,
) -> None:
    import gc

    from meterhub_common.app import GC_GEN0_THRESHOLD

    threshold = gc.get_threshold()
    app = make_app(settings)
    gc.unfreeze()
    try:
        async with app.router.lifespan_context(app):
            # A full collection no longer walks what startup made (set the p99 of a burst).
            assert gc.get_freeze_count() > 10_000
            assert gc.get_threshold()[0] == GC_GEN0_THRESHOLD
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
