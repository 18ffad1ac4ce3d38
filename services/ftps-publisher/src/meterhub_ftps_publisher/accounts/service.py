"""FTPS accounts: operators create them and set allow-lists; each REP sets its own password.

Only the argon2 hash of a password is stored. Setting a password also clears a lockout.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from meterhub_common.auth import hash_secret
from meterhub_common.errors import NotFound, Unprocessable
from meterhub_common.models.ftps_publisher import FtpsAccount
from meterhub_ftps_publisher.accounts import repository

log = logging.getLogger(__name__)

MIN_PASSWORD = 12


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise Unprocessable(f"the FTPS password must have at least {MIN_PASSWORD} characters")
    if any(ch in password for ch in "\r\n\0"):
        raise Unprocessable("the FTPS password may not contain line breaks or NUL characters")
    return password


def normalize_networks(networks: list[str] | None) -> list[str] | None:
    if networks is None:
        return None
    result = []
    for value in networks:
        try:
            result.append(str(ipaddress.ip_network(value.strip(), strict=False)))
        except ValueError as exc:
            raise Unprocessable(
                f"allowed_networks: {value!r} is not an IP address or CIDR network"
            ) from exc
    return result


def account_view(account: FtpsAccount) -> dict[str, object]:
    return {
        "rep_duns": account.rep_duns,
        "has_password": account.password_hash is not None,
        "allowed_networks": account.allowed_networks,
        "disabled": account.disabled,
        "locked_until": account.locked_until,
        "failed_logins": account.failed_logins,
        "last_login_at": account.last_login_at,
        "password_changed_at": account.password_changed_at,
        "created_at": account.created_at,
    }


async def upsert_account(
    session: AsyncSession,
    duns: str,
    *,
    allowed_networks: list[str] | None,
    disabled: bool,
    password: str | None,
    unlock: bool,
) -> FtpsAccount:
    networks = normalize_networks(allowed_networks)
    now = datetime.now(UTC)
    account = await repository.get(session, duns, lock=True)
    if account is None:
        account = FtpsAccount(rep_duns=duns, failed_logins=0, created_at=now)
        repository.add(session, account)
    account.allowed_networks = networks
    account.disabled = disabled
    if password is not None:
        account.password_hash = await asyncio.to_thread(hash_secret, check_password(password))
        account.password_changed_at = now
        unlock = True
    if unlock:
        account.failed_logins, account.first_failed_at, account.locked_until = 0, None, None
    account.updated_at = now
    await session.commit()
    await session.refresh(account)
    log.info("FTPS account %s updated by an operator", duns)
    return account


async def set_password(session: AsyncSession, duns: str, password: str) -> FtpsAccount:
    hashed = await asyncio.to_thread(hash_secret, check_password(password))
    account = await repository.get(session, duns, lock=True)
    if account is None:
        raise NotFound(
            f"REP {duns} has no FTPS account yet; the operators create it (PUT /v1/accounts)"
        )
    now = datetime.now(UTC)
    account.password_hash, account.password_changed_at, account.updated_at = hashed, now, now
    account.failed_logins, account.first_failed_at, account.locked_until = 0, None, None
    await session.commit()
    await session.refresh(account)
    log.info("REP %s rotated its FTPS password", duns)
    return account


async def get_account(session: AsyncSession, duns: str) -> FtpsAccount:
    account = await repository.get(session, duns)
    if account is None:
        raise NotFound(f"REP {duns} has no FTPS account")
    return account
