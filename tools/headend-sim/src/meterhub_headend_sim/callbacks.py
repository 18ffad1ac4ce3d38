"""Reports to Meterhub: a bearer token from the token URL (client credentials), JSON POSTs.

A report that fails on the network or with a 5xx is sent again with backoff until it lands
(or ``callback_attempts`` if that is set): a head-end does not drop statuses because the
receiver was busy. A 4xx is the receiver refusing the report (an impossible transition, say)
and is recorded, not repeated. At most ``callback_concurrency`` reports are in flight.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import httpx

from meterhub_headend_sim.config import SimConfig

log = logging.getLogger(__name__)


@dataclass
class Sent:
    url: str
    body: dict[str, Any]
    status_code: int | None
    answer: str


class CallbackClient:
    def __init__(self, config: SimConfig) -> None:
        self._config = config
        verify: ssl.SSLContext | bool = True
        if config.ca_file:
            verify = ssl.create_default_context(cafile=config.ca_file)
        self._slots = asyncio.Semaphore(config.callback_concurrency)
        self._http = httpx.AsyncClient(
            verify=verify,
            timeout=httpx.Timeout(30.0, pool=None),
            limits=httpx.Limits(max_connections=config.callback_concurrency),
        )
        self._token: str | None = config.bearer_token
        self._token_expires = float("inf") if config.bearer_token else 0.0
        self._token_lock = asyncio.Lock()
        self.sent: deque[Sent] = deque(maxlen=10_000)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _bearer(self, refresh: bool = False) -> str | None:
        if self._config.bearer_token and not refresh:
            return self._config.bearer_token
        if not self._config.token_url:
            return self._config.bearer_token
        async with self._token_lock:
            if not refresh and self._token and time.monotonic() < self._token_expires:
                return self._token
            response = await self._http.post(
                self._config.token_url,
                data={
                    "grant_type": "client_credentials",
                    "client_id": self._config.client_id or "",
                    "client_secret": self._config.client_secret or "",
                },
            )
            response.raise_for_status()
            answer = response.json()
            self._token = str(answer["access_token"])
            lifetime = float(answer.get("expires_in", 300))
            self._token_expires = time.monotonic() + max(lifetime - 30.0, lifetime / 2)
            return self._token

    async def post(self, url: str, body: dict[str, Any]) -> Sent:
        """POST ``body``; retried on network errors and 5xx; returns the final outcome."""
        refreshed = False
        delay = 0.2
        last = Sent(url, body, None, "not sent")
        attempt = 0
        limit = self._config.callback_attempts
        while limit <= 0 or attempt < limit:
            attempt += 1
            try:
                async with self._slots:
                    token = await self._bearer()
                    headers = {"Authorization": f"Bearer {token}"} if token else {}
                    response = await self._http.post(url, json=body, headers=headers)
            except httpx.HTTPError as exc:
                last = Sent(url, body, None, f"{type(exc).__name__}: {exc}")
            else:
                last = Sent(url, body, response.status_code, response.text[:500])
                if response.status_code == 401 and not refreshed and self._config.token_url:
                    refreshed = True
                    await self._bearer(refresh=True)
                    continue
                if response.status_code < 500 and response.status_code != 429:
                    break
            log.warning("report to %s failed (attempt %d): %s", url, attempt, last.answer)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
        self.sent.append(last)
        if last.status_code is None or last.status_code >= 300:
            log.warning("report %s ended with %s: %s", body, last.status_code, last.answer)
        return last
