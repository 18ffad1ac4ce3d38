"""ASGI middleware: take a token from the caller's bucket, add the RateLimit fields, or 429.

The caller is the token's ``sub`` (client id) when the request carries a valid bearer token,
otherwise its network address. Health probes are not limited. The token is verified here by
the app's (caching) verifier, so a forged token cannot drain another client's bucket.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from meterhub_common.auth import TokenVerifier
from meterhub_common.errors import MeterhubError
from meterhub_usage_api.ratelimit.buckets import Decision, RateLimiter, TokenBuckets

log = logging.getLogger(__name__)

EXEMPT_PATHS = frozenset({"/healthz", "/readyz"})


def _bearer(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = bytes(value).decode("latin-1").partition(" ")
            token = token.strip()
            return token if scheme.lower() == "bearer" and token else None
    return None


def _caller(
    scope: Scope, limiter: RateLimiter, verifier: TokenVerifier
) -> tuple[str, TokenBuckets]:
    token = _bearer(scope)
    if token is not None:
        try:
            principal = verifier.verify(token)
        except MeterhubError:
            pass  # an invalid token is limited by address; the route answers 401
        else:
            return f"client:{principal.client_id}", limiter.clients
    client = scope.get("client")
    address = client[0] if client else "unknown"
    return f"address:{address}", limiter.anonymous


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        state: Any = scope["app"].state
        key, buckets = _caller(scope, state.rate_limiter, state.token_verifier)
        decision = buckets.take(key)
        fields = [
            (b"ratelimit-policy", buckets.policy.policy_field().encode()),
            (b"ratelimit", decision.limit_field(buckets.policy).encode()),
        ]
        if not decision.allowed:
            await _too_many(send, key, buckets, decision, fields)
            return

        async def send_with_fields(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *fields]
            await send(message)

        await self.app(scope, receive, send_with_fields)


async def _too_many(
    send: Send,
    key: str,
    buckets: TokenBuckets,
    decision: Decision,
    fields: list[tuple[bytes, bytes]],
) -> None:
    policy = buckets.policy
    who = key.partition(":")[2]
    body = orjson.dumps(
        {
            "error": "too_many_requests",
            "detail": (
                f"{who} exceeded its rate limit of {policy.burst} requests per "
                f"{policy.window_seconds} s; retry after {decision.retry_after_seconds} s"
            ),
        }
    )
    log.info("rate limited %s", key)
    await send(
        {
            "type": "http.response.start",
            "status": 429,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", str(decision.retry_after_seconds).encode()),
                *fields,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
