"""Bearer tokens from the usage API's OAuth2 token endpoint (client credentials)."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx

from meterhub_notifier.clock import Clock
from meterhub_notifier.probes.base import ProbeFailure


class TokenSource:
    """Fetches and caches a token; renewed at half its life, so a short outage of the token
    endpoint does not make the services that only need a token look down."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        token_url: str,
        client_id: str,
        client_secret: str,
        clock: Clock,
    ) -> None:
        self.client = client
        self.token_url = token_url
        self.client_id = client_id
        self.client_secret = client_secret
        self.clock = clock
        self._token: str | None = None
        self._renew_at: datetime | None = None
        self._expires_at: datetime | None = None

    async def fetch(self) -> str:
        """A new token, always from the endpoint (the usage probe's own transaction)."""
        now = self.clock.now()
        try:
            response = await self.client.post(
                self.token_url,
                data={
                    "grant_type": "client_credentials",
                    "client_id": self.client_id,
                    "client_secret": self.client_secret,
                },
            )
        except httpx.HTTPError as exc:
            raise ProbeFailure(
                f"token endpoint {self.token_url}: {type(exc).__name__}: {exc}"
            ) from exc
        if response.status_code != 200:
            raise ProbeFailure(
                f"token endpoint {self.token_url} answered {response.status_code}: "
                f"{response.text[:200]}"
            )
        try:
            body = response.json()
            token = str(body["access_token"])
            lifetime = int(body.get("expires_in", 900))
        except (ValueError, KeyError, TypeError) as exc:
            raise ProbeFailure(f"token endpoint {self.token_url} answered no access_token") from exc
        self._token = token
        self._renew_at = now + timedelta(seconds=lifetime / 2)
        self._expires_at = now + timedelta(seconds=lifetime - 30)
        return token

    async def token(self) -> str:
        """A cached token while it is fresh; a renewal failure is tolerated until it expires."""
        now = self.clock.now()
        if self._token and self._renew_at and now < self._renew_at:
            return self._token
        try:
            return await self.fetch()
        except ProbeFailure:
            if self._token and self._expires_at and now < self._expires_at:
                return self._token
            raise
