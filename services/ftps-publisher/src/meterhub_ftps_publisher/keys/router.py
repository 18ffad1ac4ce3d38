"""``/v1/keys``: REPs register, confirm and list the public keys their files are encrypted to."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from meterhub_common.auth import Principal, require_roles
from meterhub_common.db import Session
from meterhub_common.errors import Forbidden
from meterhub_common.models.usage_api import Role
from meterhub_ftps_publisher.keys import service

router = APIRouter(prefix="/v1/keys", tags=["keys"])

RepOnly = Annotated[Principal, require_roles(Role.REP)]
RepOrOperator = Annotated[Principal, require_roles(Role.REP, Role.OPERATOR)]


class KeyIn(BaseModel):
    armored_key: str = Field(
        min_length=1, max_length=200_000, description="ASCII-armored OpenPGP public key"
    )


def _vault(request: Request) -> service.KeyVault:
    vault: service.KeyVault = request.app.state.key_vault
    return vault


def _duns(principal: Principal) -> str:
    if not principal.duns:
        raise Forbidden("the token carries no DUNS; keys belong to a REP DUNS")
    return principal.duns


@router.post("", status_code=201, summary="Register a public key (first: active; next: pending)")
async def register(
    body: KeyIn, request: Request, session: Session, principal: RepOnly
) -> dict[str, Any]:
    key = await service.register_key(session, _vault(request), _duns(principal), body.armored_key)
    return service.key_view(key)


@router.post("/{fingerprint}/confirm", summary="Make a pending key the active one")
async def confirm(fingerprint: str, session: Session, principal: RepOnly) -> dict[str, Any]:
    key = await service.confirm_key(session, _duns(principal), fingerprint)
    return service.key_view(key)


@router.get("", summary="Keys of the calling REP (operators: all, or ?rep=)")
async def list_keys(
    session: Session,
    principal: RepOrOperator,
    rep: Annotated[str | None, Query(pattern=r"^[0-9]{9}([0-9]{4})?$")] = None,
) -> dict[str, Any]:
    duns = rep if principal.role is Role.OPERATOR else _duns(principal)
    keys = await service.list_keys(session, duns)
    return {"keys": [service.key_view(k) for k in keys]}
