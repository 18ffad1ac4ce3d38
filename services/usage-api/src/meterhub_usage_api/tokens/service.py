"""Who gets a token: verified secrets, disabled clients, the brute-force lockout.

Secrets are argon2 hashes; verifying one takes tens of milliseconds of CPU, so it runs in a
worker thread. An unknown client id is verified against a dummy hash, so the time taken does
not tell which client ids exist.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime

import anyio.to_thread
from sqlalchemy.ext.asyncio import AsyncSession

from meterhub_common.auth import Principal, TokenIssuer, hash_secret, verify_secret
from meterhub_common.models.usage_api import Role
from meterhub_usage_api.errors import InvalidClient, InvalidGrant, SignInLocked, UnauthorizedClient
from meterhub_usage_api.settings import UsageApiSettings
from meterhub_usage_api.tokens import repository
from meterhub_usage_api.tokens.repository import Credential

log = logging.getLogger(__name__)

CLIENT_ROLES = frozenset(
    {Role.TDSP, Role.REP, Role.CSP, Role.REGULATOR, Role.OPERATOR, Role.SERVICE}
)
CUSTOMER_CLIENT_PREFIX = "customer:"


class _DummyHash:
    """A hash to verify unknown names against, made on first use (hashing costs CPU)."""

    value: str | None = None

    @classmethod
    def get(cls) -> str:
        if cls.value is None:
            cls.value = hash_secret("not a real secret: equalises the time of unknown names")
        return cls.value


@dataclass(frozen=True, slots=True)
class IssuedToken:
    access_token: str
    expires_in: int


async def _verify(credential: Credential | None, secret: str) -> bool:
    stored = credential.secret_hash if credential is not None else _DummyHash.get()
    matches = await anyio.to_thread.run_sync(verify_secret, stored, secret)
    return matches and credential is not None


class TokenService:
    def __init__(self, session: AsyncSession, issuer: TokenIssuer, settings: UsageApiSettings):
        self._session = session
        self._issuer = issuer
        self._settings = settings

    async def _refuse_if_locked(self, subject: str) -> None:
        until = await repository.locked_until(self._session, subject)
        if until is not None:
            raise self._locked(subject, until)

    def _locked(self, subject: str, until: datetime) -> SignInLocked:
        seconds = max(1, math.ceil((until - datetime.now(UTC)).total_seconds()))
        log.warning("sign-in locked for %s until %s", subject, until.isoformat())
        return SignInLocked(
            f"too many failed sign-ins for {subject}; retry after {seconds} s",
            headers={"Retry-After": str(seconds)},
        )

    async def _failed(self, subject: str) -> datetime | None:
        settings = self._settings
        until = await repository.record_failure(
            self._session,
            subject,
            max_failures=settings.token_max_failures,
            window=settings.token_failure_window_seconds,
            lockout=settings.token_lockout_seconds,
        )
        await self._session.commit()
        return until

    async def _issue(self, subject: str, principal: Principal) -> IssuedToken:
        await repository.clear_failures(self._session, subject)
        await self._session.commit()
        return IssuedToken(self._issuer.issue(principal), self._issuer.ttl_seconds)

    async def client_credentials(self, client_id: str, secret: str) -> IssuedToken:
        subject = f"client {client_id}"
        await self._refuse_if_locked(subject)
        credential = await repository.api_client(self._session, client_id)
        if not await _verify(credential, secret):
            until = await self._failed(subject)
            if until is not None:
                raise self._locked(subject, until)
            raise InvalidClient("unknown client_id or wrong client_secret")
        assert credential is not None
        if credential.disabled:
            raise InvalidClient(f"client {client_id} is disabled")
        role = Role(credential.role)
        if role not in CLIENT_ROLES:
            raise UnauthorizedClient(
                f"client {client_id} belongs to a {role.value}; customers use grant_type=password"
            )
        principal = Principal(credential.entity_id, role, credential.duns, client_id)
        return await self._issue(subject, principal)

    async def password(self, username: str, password: str) -> IssuedToken:
        subject = f"customer {username}"
        await self._refuse_if_locked(subject)
        credential = await repository.customer_account(self._session, username)
        if not await _verify(credential, password):
            until = await self._failed(subject)
            if until is not None:
                raise self._locked(subject, until)
            raise InvalidGrant("unknown username or wrong password")
        assert credential is not None
        principal = Principal(
            credential.entity_id,
            Role(credential.role),
            credential.duns,
            f"{CUSTOMER_CLIENT_PREFIX}{username}",
        )
        return await self._issue(subject, principal)
