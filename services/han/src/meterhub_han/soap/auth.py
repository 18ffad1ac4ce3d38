"""WS-Security UsernameToken -> the same API clients (and argon2 secrets) REST uses.

argon2 is deliberately slow (tens of milliseconds), and SOAP sends the password on every
call, so a verified password is remembered for ``credential_cache_seconds`` as an HMAC under
a per-process random key (the plain secret is never kept), with the hash it was checked
against. A disabled client or a changed secret takes effect when its entry expires. An
expired entry is renewed by reading the client again: when it is still enabled and its
stored hash is the one the password was verified against, the password still verifies, and
argon2 is not run again (under load it took hundreds of milliseconds once a minute, on the
calls that found the entry expired). Concurrent first calls for one client share one
verification.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
import time
from collections import OrderedDict
from dataclasses import dataclass

from meterhub_common.auth import Principal, hash_secret, verify_secret
from meterhub_common.db import Database
from meterhub_common.models.usage_api import Role
from meterhub_han.market.repository import ClientRecord, find_client
from meterhub_han.soap.envelope import SoapFault
from meterhub_han.soap.wsse import UsernameToken

log = logging.getLogger(__name__)

_MAX_ENTRIES = 10_000
_REJECTED = "the UsernameToken's client id or secret is not valid"


@dataclass(frozen=True)
class _Entry:
    fingerprint: bytes
    principal: Principal
    secret_hash: str  # the stored hash the password was verified against
    expires: float


class SoapAuthenticator:
    def __init__(self, database: Database, *, cache_seconds: float) -> None:
        self._database = database
        self._ttl = cache_seconds
        self._key = os.urandom(32)
        self._cache: OrderedDict[str, _Entry] = OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}
        self._dummy_hash: str | None = None

    def _fingerprint(self, token: UsernameToken) -> bytes:
        message = token.username.encode() + b"\x00" + token.password.encode()
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def _entry(self, token: UsernameToken, fingerprint: bytes) -> _Entry | None:
        entry = self._cache.get(token.username)
        if entry is None or not hmac.compare_digest(entry.fingerprint, fingerprint):
            return None
        return entry

    async def authenticate(self, token: UsernameToken) -> Principal:
        fingerprint = self._fingerprint(token)
        entry = self._entry(token, fingerprint)
        if entry is not None and entry.expires >= time.monotonic():
            return entry.principal
        lock = self._locks.setdefault(token.username, asyncio.Lock())
        try:
            async with lock:
                return await self._under_lock(token, fingerprint)
        finally:
            self._locks.pop(token.username, None)

    async def _under_lock(self, token: UsernameToken, fingerprint: bytes) -> Principal:
        entry = self._entry(token, fingerprint)
        if entry is not None and entry.expires >= time.monotonic():
            return entry.principal  # a concurrent call verified it meanwhile
        async with self._database.sessionmaker() as session:
            record = await find_client(session, token.username)
        if (
            entry is not None
            and record is not None
            and record.disabled_at is None
            and hmac.compare_digest(record.secret_hash.encode(), entry.secret_hash.encode())
        ):
            principal = _principal(record)
        else:
            # A wrong password leaves the right one's entry alone (it cannot match it).
            principal = await self._verify(token, record)
        if self._ttl > 0 and record is not None:
            self._remember(token.username, fingerprint, principal, record.secret_hash)
        return principal

    def _remember(
        self, username: str, fingerprint: bytes, principal: Principal, secret_hash: str
    ) -> None:
        expires = time.monotonic() + self._ttl
        self._cache[username] = _Entry(fingerprint, principal, secret_hash, expires)
        self._cache.move_to_end(username)
        while len(self._cache) > _MAX_ENTRIES:
            self._cache.popitem(last=False)

    async def _verify(self, token: UsernameToken, record: ClientRecord | None) -> Principal:
        if record is None or record.disabled_at is not None:
            # Spend the same time as a real check so client ids cannot be probed by timing.
            if self._dummy_hash is None:
                self._dummy_hash = await asyncio.to_thread(hash_secret, os.urandom(16).hex())
            await asyncio.to_thread(verify_secret, self._dummy_hash, token.password)
            log.info("SOAP authentication refused for unknown or disabled client")
            raise SoapFault("Client.Authentication", _REJECTED)
        if not await asyncio.to_thread(verify_secret, record.secret_hash, token.password):
            log.info("SOAP authentication refused: wrong secret for client %s", record.client_id)
            raise SoapFault("Client.Authentication", _REJECTED)
        return _principal(record)


def _principal(record: ClientRecord) -> Principal:
    try:
        role = Role(record.role)
    except ValueError as exc:
        raise SoapFault("Client.Authorization", "this client's role is not known") from exc
    return Principal(
        entity_id=record.entity_id, role=role, duns=record.duns, client_id=record.client_id
    )
