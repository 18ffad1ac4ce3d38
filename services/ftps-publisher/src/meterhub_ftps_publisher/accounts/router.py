"""FTPS accounts: ``POST /v1/account/password`` (REP) and ``/v1/accounts/{duns}`` (operators)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from meterhub_common.auth import Principal, require_roles
from meterhub_common.db import Session
from meterhub_common.errors import Forbidden, NotFound
from meterhub_common.models.usage_api import Role
from meterhub_ftps_publisher.accounts import service

router = APIRouter(tags=["ftps accounts"])

RepOnly = Annotated[Principal, require_roles(Role.REP)]
OperatorOnly = Annotated[Principal, require_roles(Role.OPERATOR)]
RepOrOperator = Annotated[Principal, require_roles(Role.REP, Role.OPERATOR)]
Duns = Annotated[str, Path(pattern=r"^[0-9]{9}([0-9]{4})?$")]


class PasswordIn(BaseModel):
    password: str = Field(min_length=1, max_length=256)


class AccountIn(BaseModel):
    allowed_networks: list[str] | None = Field(
        default=None, description="client IPs or CIDR networks; null = any address"
    )
    disabled: bool = False
    password: str | None = Field(default=None, max_length=256, description="initial password")
    unlock: bool = Field(default=False, description="clear a lockout")


@router.post("/v1/account/password", status_code=204, summary="Set or rotate my FTPS password")
async def set_password(body: PasswordIn, session: Session, principal: RepOnly) -> None:
    if not principal.duns:
        raise Forbidden("the token carries no DUNS; FTPS accounts belong to a REP DUNS")
    await service.set_password(session, principal.duns, body.password)


@router.put("/v1/accounts/{duns}", summary="Create or update a REP's FTPS account")
async def upsert(duns: Duns, body: AccountIn, session: Session, _: OperatorOnly) -> dict[str, Any]:
    account = await service.upsert_account(
        session,
        duns,
        allowed_networks=body.allowed_networks,
        disabled=body.disabled,
        password=body.password,
        unlock=body.unlock,
    )
    return service.account_view(account)


@router.get("/v1/accounts/{duns}", summary="A REP's FTPS account (REPs: their own)")
async def show(duns: Duns, session: Session, principal: RepOrOperator) -> dict[str, Any]:
    if principal.role is Role.REP and principal.duns != duns:
        raise NotFound(f"REP {duns} has no FTPS account")
    return service.account_view(await service.get_account(session, duns))
