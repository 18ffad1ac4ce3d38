"""WS-Security UsernameToken -> the same API clients (and argon2 secrets) REST uses.

argon2 is deliberately slow (tens of milliseconds), and SOAP sends the password on every
call, so a verified password is remembered for ``credential_cache_seconds`` as an HMAC under
a per-process random key (the plain secret is never kept). A disabled client or a changed
secret takes effect when its entry expires. Concurrent first calls for one client share one
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

from meterhub_common.auth import Principal, hash_secret, verify_secret
from meterhub_common.db import Database
from meterhub_common.models.usage_api import Role
from meterhub_han.market.repository import find_client
from meterhub_han.soap.envelope import SoapFault
from meterhub_han.soap.wsse import UsernameToken

log = logging.getLogger(__name__)

_MAX_ENTRIES = 10_000
_REJECTED = "the UsernameToken's client id or secret is not valid"


class SoapAuthenticator:
    def __init__(self, database: Database, *, cache_seconds: float) -> None:
        self._database = database
        self._ttl = cache_seconds
        self._key = os.urandom(32)
        self._cache: OrderedDict[str, tuple[bytes, Principal, float]] = OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}
        self._dummy_hash: str | None = None

    def _fingerprint(self, token: UsernameToken) -> bytes:
        message = token.username.encode() + b"\x00" + token.password.encode()
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def _cached(self, token: UsernameToken, fingerprint: bytes) -> Principal | None:
        entry = self._cache.get(token.username)
        if entry is None:
            return None
        known, principal, expires = entry
        if expires < time.monotonic() or not hmac.compare_digest(known, fingerprint):
            return None
        return principal

    async def authenticate(self, token: UsernameToken) -> Principal:
        fingerprint = self._fingerprint(token)
        principal = self._cached(token, fingerprint)
        if principal is not None:
            return principal
        lock = self._locks.setdefault(token.username, asyncio.Lock())
        async with lock:
            principal = self._cached(token, fingerprint)
            if principal is None:
                principal = await self._verify(token)
                if self._ttl > 0:
                    self._remember(token.username, fingerprint, principal)
        self._locks.pop(token.username, None)
        return principal

    def _remember(self, username: str, fingerprint: bytes, principal: Principal) -> None:
        self._cache[username] = (fingerprint, principal, time.monotonic() + self._ttl)
        self._cache.move_to_end(username)
        while len(self._cache) > _MAX_ENTRIES:
            self._cache.popitem(last=False)

    async def _verify(self, token: UsernameToken) -> Principal:
        async with self._database.sessionmaker() as session:
            record = await find_client(session, token.username)
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
        try:
            role = Role(record.role)
        except ValueError as exc:
            raise SoapFault("Client.Authorization", "this client's role is not known") from exc
        return Principal(
            entity_id=record.entity_id, role=role, duns=record.duns, client_id=record.client_id
        )
