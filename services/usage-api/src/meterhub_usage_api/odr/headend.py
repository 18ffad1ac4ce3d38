"""RequestOnDemandRead on a TDSP's AMS head-end (SOAP, zeep).

Each head-end's WSDL is fetched from its endpoint (``<url>?wsdl``) once, in a thread (zeep's
WSDL load blocks), and cached; the operation is then bound to the configured endpoint, not
to whatever address the WSDL names. zeep parses with DTDs, external references and entities
forbidden: a head-end's answers are input like any other.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from pathlib import Path

import httpx
import zeep
from fastapi import FastAPI
from zeep.exceptions import Error as ZeepError
from zeep.exceptions import Fault, TransportError
from zeep.proxy import AsyncServiceProxy
from zeep.transports import AsyncTransport

from meterhub_usage_api.settings import UsageApiSettings

BINDING = "{urn:meterhub:headend:v1}HeadEndBinding"


class HeadEndError(Exception):
    """The head-end did not take the request. ``reached``: it may have seen it anyway."""

    def __init__(self, reason: str, *, reached: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.reached = reached


@dataclass(frozen=True, slots=True)
class Acknowledgement:
    accepted: bool
    duplicate: bool
    reason: str | None


def zeep_settings() -> zeep.Settings:
    return zeep.Settings(strict=True, forbid_dtd=True, forbid_external=True, forbid_entities=True)


class HeadEnds:
    def __init__(self, urls: dict[str, str], *, ca_file: Path | None, timeout: float) -> None:
        self.urls = urls
        self.timeout = timeout
        self._verify: ssl.SSLContext | bool = (
            ssl.create_default_context(cafile=str(ca_file)) if ca_file else True
        )
        self._http: httpx.AsyncClient | None = None
        self._proxies: dict[str, AsyncServiceProxy] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def configured(self, tdsp_duns: str) -> bool:
        return tdsp_duns in self.urls

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(verify=self._verify, timeout=self.timeout)
        return self._http

    async def _proxy(self, tdsp_duns: str) -> AsyncServiceProxy:
        proxy = self._proxies.get(tdsp_duns)
        if proxy is not None:
            return proxy
        lock = self._locks.setdefault(tdsp_duns, asyncio.Lock())
        async with lock:
            proxy = self._proxies.get(tdsp_duns)
            if proxy is None:
                address = self.urls[tdsp_duns]
                http = self._client()

                def load() -> zeep.AsyncClient:
                    wsdl_http = httpx.Client(verify=self._verify, timeout=self.timeout)
                    transport = AsyncTransport(client=http, wsdl_client=wsdl_http)  # type: ignore[no-untyped-call]
                    try:
                        return zeep.AsyncClient(  # type: ignore[no-untyped-call]
                            f"{address}?wsdl", transport=transport, settings=zeep_settings()
                        )
                    finally:
                        wsdl_http.close()

                try:
                    client = await asyncio.to_thread(load)
                except (httpx.HTTPError, ZeepError, OSError) as exc:
                    raise HeadEndError(
                        f"the head-end's WSDL at {address}?wsdl could not be loaded: {exc}",
                        reached=False,
                    ) from exc
                binding = client.wsdl.bindings[BINDING]
                proxy = AsyncServiceProxy(client, binding, address=address)  # type: ignore[no-untyped-call]
                self._proxies[tdsp_duns] = proxy
        return proxy

    async def request_on_demand_read(
        self, tdsp_duns: str, request_id: str, esiid: str, meter_number: str
    ) -> Acknowledgement:
        proxy = await self._proxy(tdsp_duns)
        try:
            answer = await proxy.RequestOnDemandRead(
                RequestId=request_id, EsiId=esiid, MeterNumber=meter_number
            )
        except Fault as fault:
            raise HeadEndError(f"head-end fault: {fault.message}", reached=True) from fault
        except TransportError as exc:
            # An HTTP error without a SOAP fault (503 during an outage, 404): not processed.
            raise HeadEndError(f"head-end answered HTTP {exc.status_code}", reached=False) from exc
        except httpx.TimeoutException as exc:
            raise HeadEndError(
                f"no acknowledgement from the head-end within {self.timeout:.0f} s", reached=True
            ) from exc
        except (httpx.HTTPError, ZeepError, OSError) as exc:
            raise HeadEndError(
                f"head-end unreachable: {type(exc).__name__}: {exc}", reached=False
            ) from exc
        if answer.RequestId != request_id:
            raise HeadEndError(
                f"the head-end acknowledged {answer.RequestId}, not {request_id}", reached=True
            )
        return Acknowledgement(bool(answer.Accepted), bool(answer.Duplicate), answer.Reason)

    def start(self) -> None:
        """Nothing to start: WSDLs load on first use (a head-end may be down at boot)."""

    async def stop(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None
        self._proxies.clear()


def install(app: FastAPI, settings: UsageApiSettings) -> HeadEnds:
    headends = HeadEnds(
        settings.headend_urls,
        ca_file=settings.ca_cert_file,
        timeout=settings.headend_timeout_seconds,
    )
    app.state.headends = headends
    return headends
