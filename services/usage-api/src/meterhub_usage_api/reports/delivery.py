"""Hands finished report files to the FTPS publisher (``POST /internal/v1/deliveries``).

The body is the plain file, streamed (the publisher zips it and encrypts it to the REP's
confirmed key); the requester's DUNS and the file name travel as query parameters. The call
carries a ``service`` token that the usage API, the token issuer, mints for itself.
"""

from __future__ import annotations

import ssl
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from meterhub_common.auth import Principal, TokenIssuer
from meterhub_common.models.usage_api import Role

# The entity the usage API's own service tokens name (the devstack's "service" entity).
SERVICE_ENTITY_ID = uuid.uuid5(uuid.NAMESPACE_URL, "meterhub-demo:service")
SERVICE_CLIENT_ID = "usage-api"


class DeliveryError(Exception):
    """The publisher did not take the file. ``permanent``: sending it again cannot help."""

    def __init__(self, detail: str, *, permanent: bool) -> None:
        super().__init__(detail)
        self.detail = detail
        self.permanent = permanent


@dataclass(frozen=True, slots=True)
class Placed:
    file_name: str
    size_bytes: int | None
    # The key the publisher encrypted to; None when an earlier attempt had placed it.
    key_fingerprint: str | None


Body = AsyncIterator[bytes]


class PublisherClient:
    def __init__(
        self,
        base_url: str,
        issuer: TokenIssuer,
        *,
        ca_file: Path | None,
        timeout: float,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.issuer = issuer
        verify: ssl.SSLContext | bool = True
        if ca_file is not None:
            verify = ssl.create_default_context(cafile=str(ca_file))
        self._http = httpx.AsyncClient(verify=verify, timeout=httpx.Timeout(timeout, connect=10.0))

    def _token(self) -> str:
        principal = Principal(
            entity_id=SERVICE_ENTITY_ID, role=Role.SERVICE, duns=None, client_id=SERVICE_CLIENT_ID
        )
        return self.issuer.issue(principal)

    async def deliver(self, duns: str, file_name: str, body: Body) -> Placed:
        try:
            response = await self._http.post(
                f"{self.base_url}/internal/v1/deliveries",
                params={"requester_duns": duns, "file_name": file_name},
                headers={
                    "Authorization": f"Bearer {self._token()}",
                    "Content-Type": "application/octet-stream",
                },
                content=body,
            )
        except httpx.HTTPError as exc:
            raise DeliveryError(
                f"FTPS publisher unreachable: {type(exc).__name__}: {exc}", permanent=False
            ) from exc
        if response.status_code in (200, 201):
            answer = response.json()
            return Placed(
                str(answer["file_name"]), answer.get("size_bytes"), answer.get("key_fingerprint")
            )
        detail = _detail(response)
        if response.status_code == 409 and "already exists" in detail:
            # Our names carry the report id, so only an earlier attempt of ours (one that
            # crashed before recording the answer) can have placed it.
            return Placed(f"{file_name}.zip.asc", None, None)
        permanent = 400 <= response.status_code < 500 and response.status_code not in (408, 429)
        raise DeliveryError(
            f"FTPS publisher answered {response.status_code}: {detail}", permanent=permanent
        )

    async def aclose(self) -> None:
        await self._http.aclose()


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:500]
    if isinstance(body, dict) and "detail" in body:
        return str(body["detail"])
    return str(body)[:500]
