"""The OpenAPI document: complete, and honoured by every answer (schemathesis against the app).

A seeded REP reads its own ESI ID (the documented example) and whatever schemathesis makes up;
no answer may be a 5xx, and every status code, content type, header and body must be the one
the document declares. Examples per operation are bounded so the run stays well under a minute.
"""

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
from tests.usage_api.conftest import REP_A, Builder

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# The tokens, reads and audit of this half of the service, and the shared probes; the
# agreements, reports and on-demand reads add theirs here when they are done.
OWN_PATHS = frozenset(
    {
        "/healthz",
        "/readyz",
        "/v1/me",
        "/v1/token",
        "/v1/esiids/{esiid}",
        "/v1/esiids/{esiid}/intervals",
        "/v1/esiids/{esiid}/daily-reads",
        "/v1/esiids/{esiid}/monthly-usage",
        "/v1/audit",
    }
)
MAX_EXAMPLES = 25
SECRET = "schemathesis-secret"
BASE_URL = "http://usage.test"


def test_the_document_declares_errors_examples_and_security(app: FastAPI) -> None:
    document = app.openapi()
    intervals = document["paths"]["/v1/esiids/{esiid}/intervals"]["get"]
    assert set(intervals["responses"]) >= {"200", "401", "404", "422", "429"}
    ok = intervals["responses"]["200"]["content"]
    assert set(ok) == {"application/json", "text/csv", "application/atom+xml"}
    assert "example" in ok["text/csv"]
    assert "RateLimit" in intervals["responses"]["200"]["headers"]
    assert "Retry-After" in intervals["responses"]["429"]["headers"]
    assert intervals["security"] == [{"bearer": []}, {"oauth2": []}]
    assert document["components"]["securitySchemes"]["oauth2"]["flows"]["clientCredentials"] == {
        "tokenUrl": "/v1/token",
        "scopes": {},
    }
    token = document["paths"]["/v1/token"]["post"]
    assert "application/x-www-form-urlencoded" in token["requestBody"]["content"]
    assert set(token["responses"]) >= {"200", "400", "401", "429"}
    for path in (
        "/v1/esiids/{esiid}",
        "/v1/esiids/{esiid}/daily-reads",
        "/v1/esiids/{esiid}/monthly-usage",
        "/v1/audit",
    ):
        assert "401" in document["paths"][path]["get"]["responses"], path


@pytest.fixture
async def seeded_app(app: FastAPI, data: Builder, make_token) -> FastAPI:
    await data.esiid(EXAMPLE_ESIID)
    await data.service(EXAMPLE_ESIID, REP_A, date(2025, 1, 1))
    await data.intervals(EXAMPLE_ESIID, date(2026, 11, 1))
    await data.daily(EXAMPLE_ESIID, date(2026, 11, 1))
    await data.monthly(EXAMPLE_ESIID, date(2026, 10, 3), date(2026, 11, 2))
    app.state.schemathesis_token = make_token("rep", REP_A, client_id="rep-schemathesis")
    app.state.schemathesis_operator = make_token("operator")
    entity = await data.entity("rep", REP_A)
    await data.api_client(entity, "rep-schemathesis", SECRET)
    return app


@pytest.fixture
async def loop() -> asyncio.AbstractEventLoop:
    """The loop the async fixtures (and the test's database connection) live on."""
    return asyncio.get_running_loop()


def test_every_answer_conforms_to_the_document(
    seeded_app: FastAPI, loop: asyncio.AbstractEventLoop
) -> None:
    # Synchronous, because hypothesis drives it; each request runs on the fixtures' loop, which
    # is idle while a synchronous test runs.
    schema = schemathesis.openapi.from_dict(seeded_app.openapi())
    headers = {"Authorization": f"Bearer {seeded_app.state.schemathesis_token}"}
    transport = httpx.ASGITransport(app=seeded_app)

    async def send(case: Any) -> httpx.Response:
        kwargs = case.as_transport_kwargs(
            base_url=BASE_URL, headers={**headers, **(case.headers or {})}
        )
        kwargs.pop("cookies", None)
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
            return await client.request(**kwargs)

    operations = [
        operation
        for operation in (result.ok() for result in schema.get_all_operations())
        if operation.path in OWN_PATHS
    ]
    assert len(operations) == len(OWN_PATHS)
    for operation in operations:
        cases = st.one_of(
            operation.as_strategy(GenerationMode.POSITIVE),
            operation.as_strategy(GenerationMode.NEGATIVE),
            *schema.get_strategies_from_examples(operation),
        )

        @given(case=cases)
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def conforms(case: Any) -> None:
            response = loop.run_until_complete(send(case))
            case.validate_response(response, checks=CHECKS)

        conforms()

    # Successful answers in every format, so each 200 body is checked against its schema.
    by_path = {operation.path: operation for operation in operations}
    esiid = {"esiid": EXAMPLE_ESIID}
    day = {"start": "2026-11-01", "end": "2026-11-01"}
    operator = {"Authorization": f"Bearer {seeded_app.state.schemathesis_operator}"}
    chosen = [
        (by_path["/v1/esiids/{esiid}/intervals"], esiid, day, {}),
        (by_path["/v1/esiids/{esiid}/intervals"], esiid, day, {"Accept": "text/csv"}),
        (by_path["/v1/esiids/{esiid}/intervals"], esiid, day, {"Accept": "application/atom+xml"}),
        (by_path["/v1/esiids/{esiid}/intervals"], esiid, {**day, "granularity": "hour"}, {}),
        (by_path["/v1/esiids/{esiid}/intervals"], esiid, {**day, "versions": "all"}, {}),
        (by_path["/v1/esiids/{esiid}/daily-reads"], esiid, day, {}),
        (by_path["/v1/esiids/{esiid}/daily-reads"], esiid, day, {"Accept": "text/csv"}),
        (by_path["/v1/esiids/{esiid}/monthly-usage"], esiid, {}, {}),
        (by_path["/v1/esiids/{esiid}"], esiid, {}, {}),
        (by_path["/v1/audit"], {}, {}, operator),
    ]
    for operation, path_parameters, query, extra in chosen:
        case = operation.Case(path_parameters=path_parameters, query=query, headers=extra)
        response = loop.run_until_complete(send(case))
        assert response.status_code == 200, (operation.path, query, response.text[:300])
        case.validate_response(response, checks=CHECKS)
    token_case = by_path["/v1/token"].Case(
        body={
            "grant_type": "client_credentials",
            "client_id": "rep-schemathesis",
            "client_secret": SECRET,
        },
        media_type="application/x-www-form-urlencoded",
    )
    response = loop.run_until_complete(send(token_case))
    assert response.status_code == 200, response.text
    token_case.validate_response(response, checks=CHECKS)
