"""schemathesis against the agreements, ad-hoc reports and on-demand reads operations: no 5xx
(other than the documented 503 of a TDSP without a head-end), and every status code, content
type, header and body as the OpenAPI document declares. The reads, tokens and audit have
their own run (tests/usage_api/test_openapi.py)."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

import httpx
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from meterhub_usage_api.usage.schemas import EXAMPLE_ESIID
from tests.usage_api.agreements.conftest import random_duns
from tests.usage_api.conftest import Builder

SECOND_HALF_PATHS = frozenset(
    {
        "/v1/agreements",
        "/v1/agreements/friends",
        "/v1/agreements/{agreement_id}",
        "/v1/agreements/{agreement_id}/accept",
        "/v1/agreements/{agreement_id}/decline",
        "/v1/agreements/{agreement_id}/revoke",
        "/v1/reports",
        "/v1/reports/{report_id}",
        "/v1/esiids/{esiid}/odr",
        "/v1/odr/{request_id}",
        "/v1/tdsp/odr",
    }
)
MAX_EXAMPLES = 20
BASE_URL = "http://usage.test"


def _checks(response: httpx.Response) -> list[Any]:
    checks = [
        status_code_conformance,
        content_type_conformance,
        response_headers_conformance,
        response_schema_conformance,
    ]
    # The one documented 5xx: on-demand reads for a TDSP whose head-end is not configured.
    if response.status_code != 503:
        checks.append(not_a_server_error)
    return checks


@pytest.fixture
async def seeded(app_factory: Any, data: Builder, make_token: Any) -> FastAPI:
    # The relay is a closed port: mails stay queued, the requests still succeed.
    app = app_factory(smtp_port=1)
    duns = random_duns()
    rep = await data.entity("rep", duns)
    await data.esiid(EXAMPLE_ESIID)
    await data.service(EXAMPLE_ESIID, duns, date(2025, 1, 1))
    await data.intervals(EXAMPLE_ESIID, date(2026, 11, 1))
    customer = await data.customer(f"openapi-{duns}")
    await data.link(customer, EXAMPLE_ESIID, date(2025, 6, 1))
    app.state.tokens = {
        "rep": make_token("rep", duns, entity_id=rep, client_id="rep-openapi"),
        "customer": make_token("customer", entity_id=customer, client_id="customer-openapi"),
    }
    return app


def run_examples(
    operation: Any, cases: Any, token: str, send: Any, loop: asyncio.AbstractEventLoop
) -> None:
    @given(case=cases)
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def conforms(case: Any) -> None:
        response = loop.run_until_complete(send(case, token))
        case.validate_response(response, checks=_checks(response))

    conforms()


@pytest.fixture
async def loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()


def test_second_half_answers_conform_to_the_document(
    seeded: FastAPI, loop: asyncio.AbstractEventLoop
) -> None:
    schema = schemathesis.openapi.from_dict(seeded.openapi())
    transport = httpx.ASGITransport(app=seeded)

    async def send(case: Any, token: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}", **(case.headers or {})}
        kwargs = case.as_transport_kwargs(base_url=BASE_URL, headers=headers)
        kwargs.pop("cookies", None)
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
            return await client.request(**kwargs)

    operations = [
        operation
        for operation in (result.ok() for result in schema.get_all_operations())
        if operation.path in SECOND_HALF_PATHS
    ]
    assert len({op.path for op in operations}) == len(SECOND_HALF_PATHS)
    for operation in operations:
        cases = st.one_of(
            operation.as_strategy(GenerationMode.POSITIVE),
            operation.as_strategy(GenerationMode.NEGATIVE),
            *schema.get_strategies_from_examples(operation),
        )
        for who in ("rep", "customer"):
            run_examples(operation, cases, seeded.state.tokens[who], send, loop)

    # Successful answers, so their bodies are checked against the schemas too.
    by_key = {(op.path, op.method.lower()): op for op in operations}
    rep, customer = seeded.state.tokens["rep"], seeded.state.tokens["customer"]
    report = by_key[("/v1/reports", "post")].Case(
        body={
            "type": "interval",
            "esiids": [EXAMPLE_ESIID],
            "start": "2026-11-01",
            "end": "2026-11-01",
        },
        media_type="application/json",
    )
    response = loop.run_until_complete(send(report, rep))
    assert response.status_code == 202, response.text
    report.validate_response(response, checks=_checks(response))
    shown = by_key[("/v1/reports/{report_id}", "get")].Case(
        path_parameters={"report_id": response.json()["id"]}
    )
    response = loop.run_until_complete(send(shown, rep))
    assert response.status_code == 200, response.text
    shown.validate_response(response, checks=_checks(response))
    listed = by_key[("/v1/agreements", "get")].Case()
    response = loop.run_until_complete(send(listed, customer))
    assert response.status_code == 200
    listed.validate_response(response, checks=_checks(response))
