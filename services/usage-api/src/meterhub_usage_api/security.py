"""Token verification with a small cache of tokens already verified.

Every request verifies its token twice (the rate limiter needs the client before the route
runs), and a client sends the same token for minutes: verifying the Ed25519 signature once per
token, then checking only its expiry, keeps that off the request path. Only tokens that passed
full verification are cached, keyed by the whole token string.
"""

from __future__ import annotations

import base64
import time
from typing import Annotated

import orjson
from fastapi import Depends, Request

from meterhub_common.auth import Principal, TokenVerifier, bearer_token
from meterhub_common.errors import Unauthorized


def _expiry(token: str) -> float:
    payload = token.split(".")[1]
    claims = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return float(claims["exp"])


class CachingTokenVerifier(TokenVerifier):
    def __init__(self, public_key_pem: bytes, *, issuer: str, max_entries: int = 20_000) -> None:
        super().__init__(public_key_pem, issuer=issuer)
        self._max_entries = max_entries
        self._verified: dict[str, tuple[Principal, float]] = {}

    def verify(self, token: str) -> Principal:
        hit = self._verified.get(token)
        if hit is not None:
            if hit[1] > time.time():
                return hit[0]
            del self._verified[token]
            raise Unauthorized("the bearer token has expired")
        principal = super().verify(token)
        if len(self._verified) >= self._max_entries:
            self._verified.clear()
        self._verified[token] = (principal, _expiry(token))
        return principal


async def caller(request: Request) -> Principal:
    """The shared ``CurrentPrincipal``, as a coroutine: FastAPI runs plain functions in a
    thread pool, a hand-off that costs more than the (cached) check itself."""
    verifier: TokenVerifier = request.app.state.token_verifier
    return verifier.verify(bearer_token(request))


Caller = Annotated[Principal, Depends(caller)]
