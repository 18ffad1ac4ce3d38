"""The simulator on a loopback port, with a receiver standing in for Meterhub."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI, Form, Request
from fastapi.responses import JSONResponse
from meterhub_headend_sim.app import create_app
from meterhub_headend_sim.config import SimConfig

from meterhub_devstack.pg import free_port


class ServerThread:
    def __init__(self, app: Any, port: int) -> None:
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        )
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
class Receiver:
    """Meterhub's side: a token endpoint, the status callback and the read callback."""

    url: str = ""
    tokens_issued: int = 0
    token_requests: list[dict[str, str]] = field(default_factory=list)
    statuses: list[tuple[str | None, dict[str, Any]]] = field(default_factory=list)
    reads: list[tuple[str | None, dict[str, Any]]] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)  # statuses answered 409

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/token")
        async def token(
            grant_type: str = Form(), client_id: str = Form(), client_secret: str = Form()
        ) -> JSONResponse:
            self.token_requests.append(
                {"grant_type": grant_type, "client_id": client_id, "client_secret": client_secret}
            )
            if client_secret != "tdsp-secret":
                return JSONResponse({"error": "invalid_client"}, status_code=401)
            self.tokens_issued += 1
            return JSONResponse({"access_token": f"token-{self.tokens_issued}", "expires_in": 900})

        @app.post("/status")
        async def status(request: Request) -> JSONResponse:
            body = await request.json()
            self.statuses.append((request.headers.get("authorization"), body))
            if body["status"] in self.refuse:
                return JSONResponse({"error": "invalid_transition"}, status_code=409)
            return JSONResponse({"applied": True})

        @app.post("/odr")
        async def odr(request: Request) -> JSONResponse:
            self.reads.append((request.headers.get("authorization"), await request.json()))
            return JSONResponse({"ok": True})

        return app

    def wait(self, check: Callable[[], bool], within: float = 10.0) -> None:
        deadline = time.monotonic() + within
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError("timed out waiting for the simulator")
            time.sleep(0.02)


@dataclass
class Stack:
    receiver: Receiver
    sim_url: str
    simulator: Any


@pytest.fixture
def stack_factory() -> Iterator[Callable[..., Stack]]:
    servers: list[ServerThread] = []

    def make(**config: Any) -> Stack:
        receiver = Receiver()
        receiving = ServerThread(receiver.app(), free_port()).start()
        servers.append(receiving)
        receiver.url = receiving.url
        config.setdefault("callback_url", f"{receiving.url}/status")
        config.setdefault("odr_callback_url", f"{receiving.url}/odr")
        config.setdefault("token_url", f"{receiving.url}/token")
        config.setdefault("client_id", "tdsp-client")
        config.setdefault("client_secret", "tdsp-secret")
        config.setdefault("delay_seconds", 0.0)
        config.setdefault("odr_delay_seconds", 0.0)
        port = free_port()
        app = create_app(SimConfig(port=port, **config))
        sim = ServerThread(app, port).start()
        servers.append(sim)
        return Stack(receiver=receiver, sim_url=sim.url, simulator=app.state.simulator)

    yield make
    for server in reversed(servers):
        server.stop()
