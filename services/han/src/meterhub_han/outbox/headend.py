"""Calls to the TDSP head-ends' SOAP service with zeep.

The head-end contract (``wsdl/headend.wsdl``) ships with this package, so no WSDL is fetched
from a head-end at run time; it is parsed once, in a thread (zeep's WSDL load blocks), and
bound to each TDSP's endpoint from ``MH_HAN_HEADENDS``. zeep runs with DTDs, external
references and entities forbidden, since head-end answers are input like any other.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import anyio
import httpx
import zeep
from zeep.exceptions import Error as ZeepError
from zeep.exceptions import Fault, TransportError, ValidationError
from zeep.proxy import AsyncServiceProxy
from zeep.transports import AsyncTransport
from zeep.wsdl import Document
from zeep.wsse.username import UsernameToken

from meterhub_han.settings import HanSettings
from meterhub_han.soap.contract import contract_path

log = logging.getLogger(__name__)

BINDING = "{urn:meterhub:headend:v1}HeadEndBinding"


class Result(StrEnum):
    ACCEPTED = "accepted"  # the head-end acknowledged receipt
    REJECTED = "rejected"  # the head-end refused the request: final
    RETRY = "retry"  # no answer we can act on: deliver again later


@dataclass(frozen=True)
class Delivery:
    result: Result
    detail: str | None = None
    duplicate: bool = False


def zeep_settings() -> zeep.Settings:
    return zeep.Settings(
        strict=True,
        forbid_dtd=True,
        forbid_external=True,
        forbid_entities=True,
        xml_huge_tree=False,
    )


def _no_fetching(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError(f"no WSDL is fetched at run time: {request.url}", request=request)


class HeadEnds:
    """One zeep client per TDSP over one pooled HTTP client."""

    def __init__(self, settings: HanSettings) -> None:
        self._settings = settings
        self._document: Document | None = None
        self._proxies: dict[str, AsyncServiceProxy] = {}
        self._http: httpx.AsyncClient | None = None
        self._transport: AsyncTransport | None = None
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        """Parse the WSDL and build the HTTP client and every configured head-end's proxy.

        All of it blocks (WSDL parsing, CA bundle loading, first imports of httpcore), so it
        runs in a thread at startup rather than on the event loop at the first delivery,
        which would stall the REP calls of the burst that caused it.
        """
        async with self._lock:
            if self._document is None:
                self._document = await asyncio.to_thread(self._load_document)
            if self._http is None:
                self._http, self._transport = await asyncio.to_thread(self._http_client)
            for tdsp_duns in self._settings.headends:
                self._proxy(tdsp_duns)
            # httpcore's first request imports anyio's asyncio backend: do it now.
            anyio.Event()

    def _load_document(self) -> Document:
        # The local file needs no network; a sync transport just reads it.
        return Document(
            str(contract_path("headend.wsdl")),
            zeep.Transport(),  # type: ignore[no-untyped-call,arg-type]
            settings=zeep_settings(),
        )

    def _http_client(self) -> tuple[httpx.AsyncClient, AsyncTransport]:
        verify: ssl.SSLContext | bool = True
        if self._settings.headend_ca_file is not None:
            verify = ssl.create_default_context(cafile=str(self._settings.headend_ca_file))
        http = httpx.AsyncClient(
            verify=verify,
            timeout=self._settings.headend_timeout_seconds,
            limits=httpx.Limits(max_connections=self._settings.outbox_concurrency * 2),
        )
        # zeep wants a sync client for fetching WSDLs; ours ships with the package, so that
        # client refuses every request (and loads no CA bundle).
        transport = AsyncTransport(  # type: ignore[no-untyped-call]
            client=http, wsdl_client=httpx.Client(transport=httpx.MockTransport(_no_fetching))
        )
        return http, transport

    def _proxy(self, tdsp_duns: str) -> AsyncServiceProxy | None:
        proxy = self._proxies.get(tdsp_duns)
        if proxy is not None:
            return proxy
        address = self._settings.headends.get(tdsp_duns)
        if address is None or self._document is None or self._transport is None:
            return None
        credentials = self._settings.headend_auth.get(tdsp_duns)
        client = zeep.AsyncClient(  # type: ignore[no-untyped-call]
            self._document,
            transport=self._transport,
            settings=zeep_settings(),
            wsse=UsernameToken(*credentials) if credentials else None,  # type: ignore[no-untyped-call]
        )
        binding = self._document.bindings[BINDING]
        proxy = AsyncServiceProxy(client, binding, address=address)  # type: ignore[no-untyped-call]
        self._proxies[tdsp_duns] = proxy
        return proxy

    async def deliver(self, tdsp_duns: str, operation: str, payload: dict[str, Any]) -> Delivery:
        if self._transport is None:
            await self.start()
        proxy = self._proxy(tdsp_duns)
        if proxy is None:
            return Delivery(Result.RETRY, f"no head-end endpoint is configured for {tdsp_duns}")
        try:
            answer = await getattr(proxy, operation)(**payload)
        except Fault as fault:
            code = (fault.code or "").split(":")[-1]
            if code.startswith("Client"):
                return Delivery(Result.REJECTED, f"head-end fault {code}: {fault.message}")
            return Delivery(Result.RETRY, f"head-end fault {code or 'unknown'}: {fault.message}")
        except ValidationError as exc:
            # Our payload does not fit the head-end contract: retrying cannot help.
            log.error("request %s does not fit the head-end contract: %s", operation, exc)
            return Delivery(Result.REJECTED, f"Meterhub could not encode the request: {exc}")
        except TransportError as exc:
            return Delivery(Result.RETRY, f"head-end answered HTTP {exc.status_code}")
        except (httpx.HTTPError, ZeepError, OSError) as exc:
            return Delivery(Result.RETRY, f"head-end unreachable: {type(exc).__name__}: {exc}")
        if answer.RequestId != payload["RequestId"]:
            return Delivery(
                Result.RETRY, f"head-end answered for {answer.RequestId}, not our request"
            )
        if not answer.Accepted:
            return Delivery(Result.REJECTED, answer.Reason or "rejected without a reason")
        return Delivery(Result.ACCEPTED, duplicate=bool(answer.Duplicate))

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
        if self._transport is not None:
            self._transport.wsdl_client.close()
        self._http = None
        self._transport = None
        self._proxies.clear()
