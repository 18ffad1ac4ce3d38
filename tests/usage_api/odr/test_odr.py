"""On-demand reads: who may ask, the limits (429 + Retry-After), the head-end's report.

The head-end is a stand-in here; test_odr_headend.py drives the real simulator process.
"""

from __future__ import annotations

import math
import uuid
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from meterhub_common.domain.operating_day import day_bounds
from meterhub_usage_api.odr.headend import Acknowledgement, HeadEndError
from tests.usage_api.agreements.conftest import random_duns
from tests.usage_api.conftest import TODAY, Builder, bearer


class StandInHeadEnd:
    def __init__(self, tdsp: str) -> None:
        self.tdsp = tdsp
        self.calls: list[tuple[str, str, str, str]] = []
        self.error: HeadEndError | None = None
        self.ack = Acknowledgement(accepted=True, duplicate=False, reason=None)

    def configured(self, tdsp_duns: str) -> bool:
        return tdsp_duns == self.tdsp

    async def request_on_demand_read(
        self, tdsp_duns: str, request_id: str, esiid: str, meter_number: str
    ) -> Acknowledgement:
        self.calls.append((tdsp_duns, request_id, esiid, meter_number))
        if self.error is not None:
            raise self.error
        return self.ack

    async def stop(self) -> None:
        return None


class Premise:
    async def build(self, data: Builder, make_token: Any) -> Premise:
        self.tdsp = random_duns()
        self.esiid = await data.esiid(tdsp_duns=self.tdsp, meters=("M7",))
        self.second = await data.esiid(tdsp_duns=self.tdsp, meters=("M8",))
        self.rep_duns = random_duns()
        rep = await data.entity("rep", self.rep_duns)
        self.rep = make_token("rep", self.rep_duns, entity_id=rep)
        for esiid in (self.esiid, self.second):
            await data.service(esiid, self.rep_duns, date(2026, 1, 1))
        old_rep = random_duns()
        self.former_rep = make_token("rep", old_rep, entity_id=await data.entity("rep", old_rep))
        await data.service(self.esiid, old_rep, date(2025, 1, 1), date(2026, 1, 1))
        customer = await data.customer(f"odr-{uuid.uuid4().hex[:8]}")
        await data.link(customer, self.esiid, date(2026, 3, 1))
        self.customer = make_token("customer", entity_id=customer)
        csp_duns = random_duns()
        self.csp = make_token("csp", csp_duns, entity_id=await data.entity("csp", csp_duns))
        self.tdsp_token = make_token(
            "tdsp", self.tdsp, entity_id=await data.entity("tdsp", self.tdsp)
        )
        other_tdsp = random_duns()
        self.other_tdsp_token = make_token("tdsp", other_tdsp)
        return self


@pytest.fixture
async def premise(data: Builder, make_token: Any) -> Premise:
    return await Premise().build(data, make_token)


@pytest.fixture
def headend(premise: Premise) -> StandInHeadEnd:
    return StandInHeadEnd(premise.tdsp)


@pytest.fixture
def odr_app(app_factory: Any, headend: StandInHeadEnd) -> FastAPI:
    app = app_factory(odr_daily_cap_per_tdsp=3)
    app.state.headends = headend
    return app


def client_for(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://usage.test")


async def ask(client: httpx.AsyncClient, token: str, esiid: str) -> httpx.Response:
    return await client.post(f"/v1/esiids/{esiid}/odr", headers=bearer(token))


async def test_rep_of_record_and_customer_may_ask_nobody_else(
    odr_app: FastAPI, premise: Premise, headend: StandInHeadEnd
) -> None:
    async with client_for(odr_app) as client:
        for token in (premise.former_rep, premise.csp, premise.tdsp_token):
            refused = await ask(client, token, premise.esiid)
            assert refused.status_code == 404
            assert refused.json()["detail"] == f"ESI ID {premise.esiid} was not found"
        assert (await ask(client, premise.rep, "10443720000999999")).status_code == 404

        asked = await ask(client, premise.rep, premise.esiid)
        assert asked.status_code == 202, asked.text
        body = asked.json()
        assert body["status"] == "PENDING" and body["meter_number"] == "M7"
        assert asked.headers["location"] == f"/v1/odr/{body['id']}"
        assert headend.calls == [(premise.tdsp, body["id"], premise.esiid, "M7")]
        assert (await ask(client, premise.customer, premise.esiid)).status_code == 202
        # Each requester sees its own requests only.
        peek = await client.get(f"/v1/odr/{body['id']}", headers=bearer(premise.customer))
        assert peek.status_code == 404


async def test_one_per_hour_per_requester_and_esiid(odr_app: FastAPI, premise: Premise) -> None:
    async with client_for(odr_app) as client:
        assert (await ask(client, premise.rep, premise.esiid)).status_code == 202
        again = await ask(client, premise.rep, premise.esiid)
        assert again.status_code == 429
        assert 3590 <= int(again.headers["retry-after"]) <= 3600
        assert (await ask(client, premise.rep, premise.second)).status_code == 202


async def test_daily_cap_per_tdsp(
    app_factory: Any, premise: Premise, headend: StandInHeadEnd
) -> None:
    app = app_factory(odr_daily_cap_per_tdsp=2)
    app.state.headends = headend
    async with client_for(app) as client:
        assert (await ask(client, premise.rep, premise.esiid)).status_code == 202
        assert (await ask(client, premise.rep, premise.second)).status_code == 202
        capped = await ask(client, premise.customer, premise.esiid)
    assert capped.status_code == 429
    assert "2 on-demand reads" in capped.json()["detail"]
    # Retry after the next Central midnight of the app's operating day (pinned in the past
    # here, so the shortest wait).
    expected = (day_bounds(TODAY)[1] - datetime.now(UTC)).total_seconds()
    assert int(capped.headers["retry-after"]) == max(1, math.ceil(expected))
    assert len(headend.calls) == 2


async def test_head_end_down_fails_the_request_and_gives_the_slot_back(
    odr_app: FastAPI, premise: Premise, headend: StandInHeadEnd
) -> None:
    headend.error = HeadEndError("head-end unreachable: ConnectError", reached=False)
    async with client_for(odr_app) as client:
        failed = await ask(client, premise.rep, premise.esiid)
        assert failed.status_code == 202
        assert failed.json()["status"] == "FAILED"
        assert "unreachable" in failed.json()["failure_reason"]
        headend.error = None
        headend.ack = Acknowledgement(accepted=False, duplicate=False, reason="meter offline")
        refused = await ask(client, premise.rep, premise.esiid)
        assert refused.json()["status"] == "FAILED"
        assert refused.json()["failure_reason"] == "refused by the head-end: meter offline"
        # The refused one reached the head-end: it counts.
        assert (await ask(client, premise.rep, premise.esiid)).status_code == 429


async def test_unconfigured_tdsp_is_unavailable(
    app_factory: Any, premise: Premise, data: Builder
) -> None:
    app = app_factory()
    async with client_for(app) as client:
        answer = await ask(client, premise.rep, premise.esiid)
    assert answer.status_code == 503
    assert premise.tdsp in answer.json()["detail"]


async def test_only_the_esiids_tdsp_may_report_and_only_once(
    odr_app: FastAPI, premise: Premise
) -> None:
    async with client_for(odr_app) as client:
        request_id = (await ask(client, premise.rep, premise.esiid)).json()["id"]
        report = {
            "request_id": request_id,
            "esiid": premise.esiid,
            "meter_number": "M7",
            "status": "completed",
            "read_at": "2026-11-20T15:04:05+00:00",
            "register_kwh": "30512.418",
            "failure_reason": None,
        }
        other = await client.post(
            "/v1/tdsp/odr", json=report, headers=bearer(premise.other_tdsp_token)
        )
        assert other.status_code == 404
        rep = await client.post("/v1/tdsp/odr", json=report, headers=bearer(premise.rep))
        assert rep.status_code == 403
        as_float = await client.post(
            "/v1/tdsp/odr",
            json={**report, "register_kwh": 30512.418},
            headers=bearer(premise.tdsp_token),
        )
        assert as_float.status_code == 422

        done = await client.post("/v1/tdsp/odr", json=report, headers=bearer(premise.tdsp_token))
        assert done.status_code == 200, done.text
        assert done.json() == {"id": request_id, "status": "COMPLETED"}
        repeat = await client.post("/v1/tdsp/odr", json=report, headers=bearer(premise.tdsp_token))
        assert repeat.status_code == 200
        contrary = await client.post(
            "/v1/tdsp/odr",
            json={**report, "status": "failed", "failure_reason": "no answer"},
            headers=bearer(premise.tdsp_token),
        )
        assert contrary.status_code == 409

        shown = await client.get(f"/v1/odr/{request_id}", headers=bearer(premise.rep))
    assert shown.json()["status"] == "COMPLETED"
    assert shown.json()["reading"] == {
        "register_kwh": "30512.418",
        "read_at": "2026-11-20T15:04:05Z",
    }


async def test_a_read_the_head_end_never_reports_fails_after_the_timeout(
    odr_app: FastAPI, premise: Premise, data: Builder
) -> None:
    async with client_for(odr_app) as client:
        request_id = (await ask(client, premise.rep, premise.esiid)).json()["id"]
        shown = await client.get(f"/v1/odr/{request_id}", headers=bearer(premise.rep))
        assert shown.json()["status"] == "PENDING"
        await data.execute(
            "UPDATE odr_requests SET created_at = now() - interval '16 minutes' WHERE id = :id",
            id=uuid.UUID(request_id),
        )
        shown = await client.get(f"/v1/odr/{request_id}", headers=bearer(premise.rep))
    assert shown.json()["status"] == "FAILED"
    assert shown.json()["failure_reason"] == "the head-end reported no result within 15 minutes"
