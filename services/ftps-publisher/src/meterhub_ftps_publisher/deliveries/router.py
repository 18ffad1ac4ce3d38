"""``POST /internal/v1/deliveries``: other services hand over finished reports (role service).

The body is the report itself (``application/octet-stream``, streamed to disk, size-capped);
the requester and the file name travel as query parameters.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from meterhub_common.auth import Principal, require_roles
from meterhub_common.errors import BadRequest, PayloadTooLarge
from meterhub_common.models.usage_api import Role
from meterhub_ftps_publisher.deliveries import service

router = APIRouter(prefix="/internal/v1", tags=["internal"])

ServiceOnly = Annotated[Principal, require_roles(Role.SERVICE)]


@router.post("/deliveries", status_code=201, summary="Place a report in a requester's folder")
async def deliver(
    request: Request,
    _: ServiceOnly,
    requester_duns: Annotated[str, Query(pattern=r"^[0-9]{9}([0-9]{4})?$")],
    file_name: Annotated[str, Query(min_length=1, max_length=201)],
) -> dict[str, Any]:
    state = request.app.state
    limit: int = state.settings.max_delivery_bytes
    spool = state.folders.work_path(f".{secrets.token_hex(4)}.in")
    received = 0
    try:
        fh = await asyncio.to_thread(open, spool, "wb")
        try:
            async for chunk in request.stream():
                received += len(chunk)
                if received > limit:
                    raise PayloadTooLarge(f"the report exceeds {limit} bytes")
                await asyncio.to_thread(fh.write, chunk)
        finally:
            await asyncio.to_thread(fh.close)
        if received == 0:
            raise BadRequest("the request body (the report) is empty")
        delivered = await service.deliver(
            state.publisher_pool,
            state.folders,
            state.key_vault,
            duns=requester_duns,
            file_name=file_name,
            content_path=spool,
            retention_days=state.settings.retention_days,
        )
    finally:
        spool.unlink(missing_ok=True)
    return {
        "rep_duns": delivered.rep_duns,
        "file_name": delivered.file_name,
        "size_bytes": delivered.size_bytes,
        "key_fingerprint": delivered.key_fingerprint,
        "placed_at": delivered.placed_at,
        "expires_at": delivered.expires_at,
    }
