"""``GET /soap?wsdl``, ``GET /soap?xsd=han.xsd`` and ``POST /soap``."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from meterhub_common.errors import NotFound
from meterhub_han.settings import HanSettings
from meterhub_han.soap.contract import SERVED_SCHEMAS, contract_text, served_wsdl
from meterhub_han.soap.endpoint import SoapEndpoint
from meterhub_han.soap.envelope import SoapFault, fault_bytes

router = APIRouter(tags=["soap"])

XML = "text/xml; charset=utf-8"


@router.get("/soap", summary="The WSDL (?wsdl) and its schema (?xsd=han.xsd)")
async def contract(request: Request) -> Response:
    settings: HanSettings = request.app.state.settings
    if "wsdl" in request.query_params:
        base = settings.public_url or str(request.base_url)
        return Response(served_wsdl(base), media_type=XML)
    name = request.query_params.get("xsd")
    if name in SERVED_SCHEMAS:
        return Response(contract_text(name).encode("utf-8"), media_type=XML)
    raise NotFound("ask for /soap?wsdl or /soap?xsd=han.xsd")


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    too_big = SoapFault(
        "Client.Limit", f"the request is larger than {limit} bytes", http_status=413
    )
    if declared is not None:
        try:
            if int(declared) > limit:
                raise too_big
        except ValueError:
            raise SoapFault("Client.Validation", "Content-Length is not a number") from None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_big
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "/soap",
    summary="The HAN SOAP 1.1 endpoint (see ?wsdl)",
    response_class=Response,
    responses={200: {"content": {"text/xml": {}}}, 500: {"description": "a SOAP fault"}},
)
async def soap(request: Request) -> Response:
    endpoint: SoapEndpoint = request.app.state.soap
    try:
        body = await _read_body(request, endpoint.settings.max_body_bytes)
    except SoapFault as fault:
        return Response(
            fault_bytes(fault.code, fault.message),
            status_code=fault.http_status,
            media_type=XML,
            headers={"Connection": "close"},
        )
    reply = await endpoint.handle(body, request.headers.get("soapaction"))
    return Response(reply.body, status_code=reply.status, media_type=XML)
