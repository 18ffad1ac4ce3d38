"""Fixtures of the HAN tests.

Two ways to run the gateway:

- ``han``: the app on an ASGI transport bound to the test's connection (everything rolled
  back); no lifespan, so no outbox worker. For rules, faults, hostile XML and the callback.
- ``live``: the app and the head-end simulator served by uvicorn on loopback ports in
  background threads, on committed data (unique ids, deleted at the end), so zeep does real
  HTTP, the worker delivers and the simulator calls back.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import httpx
import pytest
import uvicorn
import zeep
from argon2 import PasswordHasher
from fastapi import FastAPI
from meterhub_headend_sim.app import create_app as create_sim_app
from meterhub_headend_sim.config import Mode, SimConfig
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from zeep.proxy import AsyncServiceProxy
from zeep.transports import AsyncTransport
from zeep.wsdl import Document
from zeep.wsse.username import UsernameToken

from meterhub_common.auth import verify_secret
from meterhub_devstack.pg import free_port
from meterhub_devstack.testing import bind_database_to
from meterhub_han.devices.install_code import with_crc
from meterhub_han.main import create_app
from meterhub_han.settings import HanSettings
from meterhub_han.soap.contract import served_wsdl

SECRETS = {"rep": "rep-secret-1", "other_rep": "rep-secret-2", "tdsp": "tdsp-secret"}


def random_duns() -> str:
    return "".join(random.choices("0123456789", k=9))


def random_esiid() -> str:
    return "10443720" + "".join(random.choices("0123456789", k=9))


def random_mac() -> str:
    return "00" + "".join(random.choices("0123456789ABCDEF", k=14))


def install_code(size: int = 16) -> str:
    return with_crc(bytes(random.getrandbits(8) for _ in range(size))).hex().upper()


@dataclass
class Party:
    role: str
    duns: str | None
    client_id: str
    secret: str
    entity_id: uuid.UUID = field(default_factory=uuid.uuid4)


@dataclass
class World:
    tdsp: Party
    other_tdsp: Party
    rep: Party
    other_rep: Party
    operator: Party
    esiids: list[str] = field(default_factory=list)

    def parties(self) -> list[Party]:
        return [self.tdsp, self.other_tdsp, self.rep, self.other_rep, self.operator]


@pytest.fixture(scope="session")
def secret_hashes() -> dict[str, str]:
    # Cheap argon2 parameters: verification reads them from the hash, so the production
    # verify_secret runs unchanged, only faster.
    hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    hashes = {name: hasher.hash(secret) for name, secret in SECRETS.items()}
    assert all(verify_secret(hashes[name], secret) for name, secret in SECRETS.items())
    return hashes


def new_world() -> World:
    tag = uuid.uuid4().hex[:8]
    return World(
        tdsp=Party("tdsp", random_duns(), f"tdsp-{tag}", SECRETS["tdsp"]),
        other_tdsp=Party("tdsp", random_duns(), f"tdsp2-{tag}", SECRETS["tdsp"]),
        rep=Party("rep", random_duns(), f"rep-{tag}", SECRETS["rep"]),
        other_rep=Party("rep", random_duns(), f"rep2-{tag}", SECRETS["other_rep"]),
        operator=Party("operator", None, f"op-{tag}", SECRETS["tdsp"]),
    )


async def insert_world(conn: AsyncConnection, world: World, hashes: dict[str, str]) -> None:
    hash_of = {
        world.rep.client_id: hashes["rep"],
        world.other_rep.client_id: hashes["other_rep"],
    }
    for party in world.parties():
        await conn.execute(
            text("INSERT INTO entities (id, duns, name, role) VALUES (:id, :duns, :name, :role)"),
            {
                "id": party.entity_id,
                "duns": party.duns,
                "name": f"Test {party.client_id}",
                "role": party.role,
            },
        )
        await conn.execute(
            text(
                "INSERT INTO api_clients (client_id, entity_id, secret_hash) "
                "VALUES (:client_id, :entity_id, :secret_hash)"
            ),
            {
                "client_id": party.client_id,
                "entity_id": party.entity_id,
                "secret_hash": hash_of.get(party.client_id, hashes["tdsp"]),
            },
        )


async def insert_esiid(
    conn: AsyncConnection,
    *,
    tdsp_duns: str,
    rep_duns: str,
    meters: tuple[str, ...] = ("M1",),
    start: date = date(2020, 1, 1),
    end: date | None = None,
    esiid: str | None = None,
) -> str:
    esiid = esiid or random_esiid()
    await conn.execute(
        text("INSERT INTO esiids (esiid, tdsp_duns, premise_type) VALUES (:e, :t, 'residential')"),
        {"e": esiid, "t": tdsp_duns},
    )
    for meter in meters:
        await conn.execute(
            text("INSERT INTO meters (esiid, meter_number, multiplier) VALUES (:e, :m, 1)"),
            {"e": esiid, "m": meter},
        )
    await conn.execute(
        text(
            "INSERT INTO service_history (esiid, start_date, end_date, rep_duns) "
            "VALUES (:e, :s, :end, :r)"
        ),
        {"e": esiid, "s": start, "end": end, "r": rep_duns},
    )
    return esiid


async def delete_world(conn: AsyncConnection, world: World) -> None:
    esiids = list(world.esiids)
    if esiids:
        params = {"e": esiids}
        for statement in (
            "DELETE FROM han_device_history WHERE esiid = ANY(:e)",
            "DELETE FROM han_devices WHERE esiid = ANY(:e)",
            "DELETE FROM han_message_status_log WHERE message_id IN "
            "(SELECT id FROM han_messages WHERE esiid = ANY(:e))",
            "DELETE FROM han_messages WHERE esiid = ANY(:e)",
            "DELETE FROM han_outbox WHERE esiid = ANY(:e)",
            "DELETE FROM service_history WHERE esiid = ANY(:e)",
            "DELETE FROM meters WHERE esiid = ANY(:e)",
            "DELETE FROM esiids WHERE esiid = ANY(:e)",
        ):
            await conn.execute(text(statement), params)
    duns = [p.duns for p in world.parties() if p.duns]
    await conn.execute(
        text("DELETE FROM han_refused_reports WHERE tdsp_duns = ANY(:d)"), {"d": duns}
    )
    clients = [p.client_id for p in world.parties()]
    await conn.execute(text("DELETE FROM api_clients WHERE client_id = ANY(:c)"), {"c": clients})
    ids = [p.entity_id for p in world.parties()]
    await conn.execute(text("DELETE FROM entities WHERE id = ANY(:i)"), {"i": ids})


# ---------------------------------------------------------------------------------------
# bound: ASGI transport on the test's connection
# ---------------------------------------------------------------------------------------


HAN_BINDING = "{urn:meterhub:han:v1}HanBinding"
ZEEP_SETTINGS = zeep.Settings(
    strict=True, forbid_dtd=True, forbid_external=True, forbid_entities=True
)


@pytest.fixture(scope="session")
def han_wsdl_document(tmp_path_factory: pytest.TempPathFactory) -> Document:
    """The served WSDL, parsed once by zeep (as a REP's generated client would hold it)."""
    path = tmp_path_factory.mktemp("wsdl") / "han.wsdl"
    path.write_bytes(served_wsdl("https://han.test"))
    return Document(str(path), zeep.Transport(), settings=ZEEP_SETTINGS)


@dataclass
class Bound:
    app: FastAPI
    world: World
    connection: AsyncConnection
    document: Document

    def zeep(self, party: Party | None = None, *, secret: str | None = None) -> AsyncServiceProxy:
        """zeep as the REP's client, over the ASGI transport."""
        party = party or self.world.rep
        transport = AsyncTransport(client=self.client(), wsdl_client=httpx.Client())
        client = zeep.AsyncClient(
            self.document,
            transport=transport,
            settings=ZEEP_SETTINGS,
            wsse=UsernameToken(party.client_id, secret or party.secret),
        )
        return AsyncServiceProxy(
            client, self.document.bindings[HAN_BINDING], address="https://han.test/soap"
        )

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="https://han.test"
        )

    async def add_esiid(self, **kwargs: Any) -> str:
        kwargs.setdefault("tdsp_duns", self.world.tdsp.duns)
        kwargs.setdefault("rep_duns", self.world.rep.duns)
        esiid = await insert_esiid(self.connection, **kwargs)
        self.world.esiids.append(esiid)
        return esiid


@pytest.fixture
def han_settings(common_settings: dict[str, object]) -> HanSettings:
    return HanSettings(**common_settings, outbox_enabled=False)  # type: ignore[arg-type]


@pytest.fixture
async def han(
    connection: AsyncConnection,
    han_settings: HanSettings,
    secret_hashes: dict[str, str],
    han_wsdl_document: Document,
) -> Bound:
    world = new_world()
    await insert_world(connection, world, secret_hashes)
    app = create_app(han_settings)
    bind_database_to(app.state.database, connection)
    return Bound(app=app, world=world, connection=connection, document=han_wsdl_document)


# ---------------------------------------------------------------------------------------
# live: uvicorn on loopback, the simulator, zeep
# ---------------------------------------------------------------------------------------


class ServerThread:
    """A uvicorn server running an app in its own thread and event loop."""

    def __init__(self, app: FastAPI, port: int) -> None:
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.url = f"http://127.0.0.1:{port}"

    def start(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError(f"server on {self.url} did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


@dataclass
class Live:
    world: World
    engine: AsyncEngine
    han_url: str
    sim_url: str
    make_token: Callable[..., str]
    late_port: int  # the other TDSP's head-end address, where nothing listens at first
    _clients: dict[str, zeep.Client] = field(default_factory=dict)

    def zeep_client(self, party: Party | None = None, *, secret: str | None = None) -> zeep.Client:
        party = party or self.world.rep
        key = f"{party.client_id}:{secret}"
        if key not in self._clients:
            settings = zeep.Settings(
                strict=True, forbid_dtd=True, forbid_external=True, forbid_entities=True
            )
            self._clients[key] = zeep.Client(
                f"{self.han_url}/soap?wsdl",
                wsse=UsernameToken(party.client_id, secret or party.secret),
                settings=settings,
            )
        return self._clients[key]

    async def call(self, operation: str, *, party: Party | None = None, **kwargs: Any) -> Any:
        client = self.zeep_client(party)
        return await asyncio.to_thread(getattr(client.service, operation), **kwargs)

    async def add_esiid(self, **kwargs: Any) -> str:
        kwargs.setdefault("tdsp_duns", self.world.tdsp.duns)
        kwargs.setdefault("rep_duns", self.world.rep.duns)
        async with self.engine.begin() as conn:
            esiid = await insert_esiid(conn, **kwargs)
        self.world.esiids.append(esiid)
        return esiid

    async def sim(self, **change: Any) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=self.sim_url) as client:
            if change:
                response = await client.post("/control", json=change)
            else:
                response = await client.get("/control")
            response.raise_for_status()
            result: dict[str, Any] = response.json()
            return result

    async def sim_request(self, request_id: str) -> dict[str, Any] | None:
        async with httpx.AsyncClient(base_url=self.sim_url) as client:
            response = await client.get(f"/requests/{request_id}")
        if response.status_code == 404:
            return None
        result: dict[str, Any] = response.json()
        return result

    async def scalar(self, sql: str, **params: Any) -> Any:
        async with self.engine.connect() as conn:
            return (await conn.execute(text(sql), params)).scalar()

    async def wait_for(
        self, check: Callable[[], Awaitable[bool]], within: float = 15.0, what: str = ""
    ) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if await check():
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}")

    async def device_status(self, request_id: str) -> str | None:
        status: str | None = await self.scalar(
            "SELECT status FROM han_devices WHERE add_request_id = :r OR remove_request_id = :r",
            r=request_id,
        )
        return status

    async def wait_device(self, request_id: str, status: str, within: float = 15.0) -> None:
        async def reached() -> bool:
            return await self.device_status(request_id) == status

        await self.wait_for(reached, within, f"{request_id} to reach {status!r}")

    async def message_status(self, reference_id: str) -> str | None:
        status: str | None = await self.scalar(
            "SELECT status FROM han_messages WHERE reference_id = :r", r=reference_id
        )
        return status

    async def wait_message(self, reference_id: str, status: str, within: float = 15.0) -> None:
        async def reached() -> bool:
            return await self.message_status(reference_id) == status

        await self.wait_for(reached, within, f"{reference_id} to reach {status!r}")


# Module scope: the live world is committed data, and it must be gone before other
# services' tests (which count rows) run in the same session.
@pytest.fixture(scope="module")
async def live(
    engine: AsyncEngine,
    common_settings: dict[str, object],
    secret_hashes: dict[str, str],
    make_token: Callable[..., str],
) -> AsyncIterator[Live]:
    world = new_world()
    async with engine.begin() as conn:
        await insert_world(conn, world, secret_hashes)
    han_port, sim_port, late_port = free_port(), free_port(), free_port()
    han_url, sim_url = f"http://127.0.0.1:{han_port}", f"http://127.0.0.1:{sim_port}"
    assert world.tdsp.duns is not None
    sim_config = SimConfig(
        port=sim_port,
        callback_url=f"{han_url}/v1/tdsp/status",
        delay_seconds=0.0,
        mode=Mode.ACK,
        bearer_token=make_token("tdsp", world.tdsp.duns, client_id=world.tdsp.client_id),
    )
    settings = HanSettings(
        **{**common_settings, "database_pool_size": 8},  # type: ignore[arg-type]
        headends={
            world.tdsp.duns: f"{sim_url}/soap",
            world.other_tdsp.duns: f"http://127.0.0.1:{late_port}/soap",
        },
        outbox_poll_seconds=0.5,
        retry_initial_seconds=0.2,
        retry_max_seconds=0.5,
        headend_timeout_seconds=5.0,
    )
    sim = ServerThread(create_sim_app(sim_config), sim_port).start()
    han = ServerThread(create_app(settings), han_port).start()
    try:
        yield Live(
            world=world,
            engine=engine,
            han_url=han_url,
            sim_url=sim_url,
            make_token=make_token,
            late_port=late_port,
        )
    finally:
        han.stop()
        sim.stop()
        async with engine.begin() as conn:
            await delete_world(conn, world)


@pytest.fixture
async def fresh_sim(live: Live) -> AsyncIterator[Live]:
    """The live stack with the simulator acknowledging at zero delay, and left that way."""
    await live.sim(mode="ack", delay_seconds=0.0, device_level_reports=False)
    yield live
    await live.sim(mode="ack", delay_seconds=0.0, device_level_reports=False)


@dataclass(frozen=True)
class Ids:
    """Fresh identifiers for a test."""

    mac: Callable[[], str] = random_mac
    install_code: Callable[..., str] = install_code
    esiid: Callable[[], str] = random_esiid
    duns: Callable[[], str] = random_duns


@pytest.fixture(scope="session")
def ids() -> Ids:
    return Ids()


@pytest.fixture
def serve() -> Iterator[Callable[..., ServerThread]]:
    """Start apps on loopback ports for one test; stopped at its end."""
    started: list[ServerThread] = []

    def start(app: FastAPI, port: int | None = None) -> ServerThread:
        server = ServerThread(app, port or free_port()).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
