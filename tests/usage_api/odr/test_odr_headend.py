"""On-demand reads against the real TDSP head-end simulator process (SOAP over TLS on
loopback): the usage API serves on a port so the simulator's report reaches it, and the
simulator's control endpoint switches it to failing, refusing and silent."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from meterhub_common.domain.operating_day import today_central
from meterhub_usage_api.main import create_app
from meterhub_usage_api.settings import UsageApiSettings
from tests.usage_api.agreements.conftest import random_duns
from tests.usage_api.conftest import bearer
from tests.usage_api.reports.live import CommittedData, free_port, loopback_cert, serve

pytestmark = pytest.mark.slow


@dataclass
class Live:
    api: httpx.AsyncClient  # the usage API, over TLS
    sim: httpx.AsyncClient  # the simulator's control endpoint
    esiids: list[str]
    rep: str
    customer: str

    async def ask(self, token: str, esiid: str) -> httpx.Response:
        return await self.api.post(f"/v1/esiids/{esiid}/odr", headers=bearer(token))

    async def settle(self, token: str, request_id: str) -> dict[str, Any]:
        for _ in range(200):
            shown = (await self.api.get(f"/v1/odr/{request_id}", headers=bearer(token))).json()
            if shown["status"] != "PENDING":
                return dict(shown)
            await asyncio.sleep(0.05)
        raise AssertionError(f"on-demand read {request_id} still pending")

    async def mode(self, mode: str) -> None:
        answer = await self.sim.post("/control", json={"mode": mode})
        assert answer.status_code == 200, answer.text


@pytest.fixture
def cert(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return loopback_cert(tmp_path_factory.mktemp("odr-tls"))


@pytest.fixture
def simulator(
    cert: Any, make_token: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[int, int, str]]:
    server, ca_file = cert
    sim_port, api_port, tdsp = free_port(), free_port(), random_duns()
    log = (tmp_path_factory.mktemp("sim") / "sim.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "meterhub_headend_sim",
            "--port",
            str(sim_port),
            "--odr-callback-url",
            f"https://127.0.0.1:{api_port}/v1/tdsp/odr",
            "--bearer-token",
            make_token("tdsp", tdsp, client_id=f"tdsp-{tdsp}"),
            "--odr-delay-seconds",
            "0.2",
            "--certfile",
            str(server.cert_path),
            "--keyfile",
            str(server.key_path),
            "--ca-file",
            str(ca_file),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield sim_port, api_port, tdsp
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture
async def live(
    engine: AsyncEngine,
    simulator: tuple[int, int, str],
    cert: Any,
    common_settings: dict[str, Any],
    token_keys: tuple[Path, Path],
    make_token: Any,
) -> AsyncIterator[Live]:
    sim_port, api_port, tdsp = simulator
    server, ca_file = cert
    committed = CommittedData(engine)
    rep_duns = random_duns()
    async with committed.builder() as data:
        esiids = [await data.esiid(tdsp_duns=tdsp, meters=(f"M{n}",)) for n in range(3)]
        rep = await data.entity("rep", rep_duns)
        for esiid in esiids:
            await data.service(esiid, rep_duns, today_central() - timedelta(days=90))
        customer = await data.customer(f"odr-live-{rep_duns}")
        await data.link(customer, esiids[0], today_central() - timedelta(days=60))
    app = create_app(
        UsageApiSettings(
            **common_settings,
            token_private_key_file=token_keys[0],
            headend_urls={tdsp: f"https://127.0.0.1:{sim_port}/soap"},
            ca_cert_file=ca_file,
            start_report_worker=False,
            start_agreement_jobs=False,
        )
    )
    trust = ssl.create_default_context(cafile=str(ca_file))
    try:
        async with (
            serve(app, api_port, server) as url,
            httpx.AsyncClient(base_url=url, verify=trust) as api,
            httpx.AsyncClient(base_url=f"https://127.0.0.1:{sim_port}", verify=trust) as sim,
        ):
            for _ in range(250):
                try:
                    if (await sim.get("/healthz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    await asyncio.sleep(0.04)
            yield Live(
                api=api,
                sim=sim,
                esiids=esiids,
                rep=make_token("rep", rep_duns, entity_id=rep),
                customer=make_token("customer", entity_id=customer),
            )
    finally:
        await committed.remove()


async def test_read_completes_through_the_simulator_and_the_limit_holds(live: Live) -> None:
    asked = await live.ask(live.rep, live.esiids[0])
    assert asked.status_code == 202, asked.text
    assert asked.json()["status"] == "PENDING"
    request_id = asked.json()["id"]

    done = await live.settle(live.rep, request_id)
    assert done["status"] == "COMPLETED", done
    assert float(done["reading"]["register_kwh"]) > 0
    assert done["reading"]["read_at"] is not None and done["failure_reason"] is None
    seen = (await live.sim.get(f"/requests/{request_id}")).json()
    assert (seen["esiid"], seen["meter_number"], seen["reported"]) == (
        live.esiids[0],
        "M0",
        ["completed"],
    )

    again = await live.ask(live.rep, live.esiids[0])
    assert again.status_code == 429
    assert int(again.headers["retry-after"]) > 3500


async def test_simulator_failure_refusal_and_outage(live: Live) -> None:
    await live.mode("fail")
    failing = await live.ask(live.rep, live.esiids[1])
    assert failing.json()["status"] == "PENDING"
    failed = await live.settle(live.rep, failing.json()["id"])
    assert failed["status"] == "FAILED"
    assert failed["failure_reason"] == "the meter did not answer the on-demand read"
    assert failed["reading"] is None

    await live.mode("reject")
    refused = await live.ask(live.rep, live.esiids[2])
    assert refused.json()["status"] == "FAILED"
    assert refused.json()["failure_reason"].startswith("refused by the head-end: rejected")

    await live.mode("silent")
    outage = await live.ask(live.customer, live.esiids[0])
    assert outage.status_code == 202
    assert outage.json()["status"] == "FAILED"
    assert "HTTP 503" in outage.json()["failure_reason"]

    # The outage used up nothing: once the head-end is back, the customer asks again.
    await live.mode("ack")
    retried = await live.ask(live.customer, live.esiids[0])
    assert retried.status_code == 202, retried.text
    assert (await live.settle(live.customer, retried.json()["id"]))["status"] == "COMPLETED"
