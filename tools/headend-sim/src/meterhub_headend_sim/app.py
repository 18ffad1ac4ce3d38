"""The simulator's HTTP surface.

- ``GET /soap?wsdl`` (and ``?xsd=headend.xsd``): its contract.
- ``POST /soap``: AddDevice, RemoveDevice, SendMessage, CancelMessage, RequestOnDemandRead.
- ``GET /control``, ``POST /control`` (JSON ``{"mode", "delay_seconds", "odr_delay_seconds",
  "device_level_reports", "reset"}``): read or change its behaviour at run time.
- ``GET /requests``, ``GET /requests/{id}``: what it received and reported.
- ``GET /healthz``.
"""

from __future__ import annotations

import contextlib
import hmac
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from meterhub_headend_sim import soap
from meterhub_headend_sim.config import Mode, SimConfig
from meterhub_headend_sim.state import Simulator

XML = "text/xml; charset=utf-8"


class ControlChange(BaseModel):
    mode: Mode | None = None
    delay_seconds: float | None = Field(default=None, ge=0, le=3600)
    odr_delay_seconds: float | None = Field(default=None, ge=0, le=3600)
    device_level_reports: bool | None = None
    reset: bool = False


def create_app(config: SimConfig) -> FastAPI:
    simulator = Simulator(config)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await simulator.aclose()

    app = FastAPI(title="TDSP head-end simulator", lifespan=lifespan)
    app.state.simulator = simulator

    def check_control(request: Request) -> None:
        if not config.control_token:
            return
        given = request.headers.get("authorization", "")
        expected = f"Bearer {config.control_token}"
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise HTTPException(status_code=401, detail="control token required")

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/soap")
    async def contract(request: Request) -> Response:
        if "wsdl" in request.query_params:
            return Response(soap.served_wsdl(str(request.base_url)), media_type=XML)
        if request.query_params.get("xsd") == "headend.xsd":
            return Response(soap.contract("headend.xsd").encode(), media_type=XML)
        raise HTTPException(status_code=404, detail="ask for ?wsdl or ?xsd=headend.xsd")

    @app.post("/soap")
    async def endpoint(request: Request) -> Response:
        if simulator.mode is Mode.SILENT:
            return Response(status_code=503, headers={"Retry-After": "1"})
        body = bytearray()
        async for chunk in request.stream():
            body.extend(chunk)
            if len(body) > config.max_body_bytes:
                return Response(
                    soap.fault("Client.Limit", "request too large"), 413, media_type=XML
                )
        try:
            parsed = soap.parse_request(bytes(body), config.soap_username, config.soap_password)
        except soap.Fault as fault:
            return Response(soap.fault(fault.code, fault.message), 500, media_type=XML)
        received = simulator.receive(parsed)
        duplicate = received.receipts > 1
        answer = soap.acknowledgement(
            parsed.operation, received.request_id, received.accepted, duplicate, received.reason
        )
        return Response(answer, media_type=XML)

    @app.get("/control")
    async def read_control(request: Request) -> dict[str, Any]:
        check_control(request)
        return simulator.status()

    @app.post("/control")
    async def change_control(change: ControlChange, request: Request) -> dict[str, Any]:
        check_control(request)
        if change.reset:
            simulator.reset()
        if change.delay_seconds is not None:
            simulator.delay_seconds = change.delay_seconds
        if change.odr_delay_seconds is not None:
            simulator.odr_delay_seconds = change.odr_delay_seconds
        if change.device_level_reports is not None:
            simulator.device_level_reports = change.device_level_reports
        if change.mode is not None:
            simulator.set_mode(change.mode)
        return simulator.status()

    @app.get("/requests")
    async def list_requests(request: Request) -> list[dict[str, Any]]:
        check_control(request)
        return [r.public() for r in simulator.requests.values()]

    @app.get("/requests/{request_id}", response_model=None)
    async def one_request(request_id: str, request: Request) -> dict[str, Any] | JSONResponse:
        check_control(request)
        received = simulator.requests.get(request_id)
        if received is None:
            return JSONResponse({"detail": f"no request {request_id}"}, status_code=404)
        return received.public()

    return app
