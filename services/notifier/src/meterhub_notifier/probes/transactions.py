"""The probes: a real transaction against each service, not only its health endpoint.

- usage-api: a fresh token from the token endpoint, then one ESI ID's intervals;
- ingest: the TDSP file list (``GET /v1/files``) with a TDSP client's token;
- han: a SOAP GetDevices for one ESI ID, authenticated with WS-Security;
- ftps-publisher: an FTPS login (explicit TLS, protected data channel) and a listing;
- notifier: the self-check (database and outbox), over HTTP when its URL is configured.
"""

from __future__ import annotations

import asyncio
import ftplib
import ssl
from collections.abc import Awaitable, Callable
from datetime import UTC, timedelta

import httpx
from lxml import etree

from meterhub_common.domain.operating_day import today_central
from meterhub_notifier.clock import Clock
from meterhub_notifier.probes.base import (
    FtpsProbeConfig,
    HanProbeConfig,
    IngestProbeConfig,
    ProbeFailure,
    UsageProbeConfig,
)
from meterhub_notifier.probes.tokens import TokenSource

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
HAN_NS = "urn:meterhub:han:v1"
WSSE_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
# The URI that names the password type "plain text" (not a password).
PASSWORD_TYPE_TEXT = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"  # noqa: S105
    "#PasswordText"
)
MAX_SOAP_RESPONSE = 1024 * 1024


def _expect(response: httpx.Response, what: str, *statuses: int) -> None:
    if response.status_code not in (statuses or (200,)):
        raise ProbeFailure(f"{what} answered {response.status_code}: {response.text[:200]}")


async def _get(client: httpx.AsyncClient, url: str, what: str, **kwargs: object) -> httpx.Response:
    try:
        return await client.get(url, **kwargs)  # type: ignore[arg-type]
    except httpx.HTTPError as exc:
        raise ProbeFailure(f"{what} at {url}: {type(exc).__name__}: {exc}") from exc


class UsageReadProbe:
    service = "usage-api"

    def __init__(
        self,
        client: httpx.AsyncClient,
        base_url: str,
        tokens: TokenSource,
        config: UsageProbeConfig,
        clock: Clock,
    ) -> None:
        self.client = client
        self.base_url = base_url
        self.tokens = tokens
        self.config = config
        self.clock = clock

    async def check(self) -> None:
        token = await self.tokens.fetch()
        day = today_central(self.clock.now()) - timedelta(days=self.config.days_back)
        path = self.config.read_path.format(esiid=self.config.esiid, day=day.isoformat())
        response = await _get(
            self.client,
            f"{self.base_url}{path}",
            "usage read",
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        )
        _expect(response, "usage read")
        try:
            response.json()
        except ValueError as exc:
            raise ProbeFailure("usage read answered 200 without a JSON body") from exc


class IngestStatusProbe:
    service = "ingest"

    def __init__(
        self,
        client: httpx.AsyncClient,
        base_url: str,
        tokens: TokenSource,
        config: IngestProbeConfig,
    ) -> None:
        self.client = client
        self.base_url = base_url
        self.tokens = tokens
        self.config = config

    async def check(self) -> None:
        token = await self.tokens.token()
        response = await _get(
            self.client,
            f"{self.base_url}{self.config.path}",
            "ingest file list",
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        )
        _expect(response, "ingest file list")
        try:
            response.json()
        except ValueError as exc:
            raise ProbeFailure("ingest file list answered 200 without a JSON body") from exc


def get_devices_envelope(config: HanProbeConfig, created: str) -> bytes:
    envelope = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soapenv": SOAP_ENV, "han": HAN_NS})
    header = etree.SubElement(envelope, f"{{{SOAP_ENV}}}Header")
    security = etree.SubElement(
        header, f"{{{WSSE_NS}}}Security", nsmap={"wsse": WSSE_NS, "wsu": WSU_NS}
    )
    token = etree.SubElement(security, f"{{{WSSE_NS}}}UsernameToken")
    etree.SubElement(token, f"{{{WSSE_NS}}}Username").text = config.username
    password = etree.SubElement(token, f"{{{WSSE_NS}}}Password", Type=PASSWORD_TYPE_TEXT)
    password.text = config.password.get_secret_value()
    etree.SubElement(token, f"{{{WSU_NS}}}Created").text = created
    body = etree.SubElement(envelope, f"{{{SOAP_ENV}}}Body")
    request = etree.SubElement(body, f"{{{HAN_NS}}}GetDevices")
    etree.SubElement(request, f"{{{HAN_NS}}}EsiId").text = config.esiid
    return bytes(etree.tostring(envelope, xml_declaration=True, encoding="utf-8"))


_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False, huge_tree=False
)


def check_get_devices_response(content: bytes, esiid: str) -> None:
    if len(content) > MAX_SOAP_RESPONSE:
        raise ProbeFailure("HAN GetDevices answered more than 1 MiB")
    try:
        root = etree.fromstring(content, parser=_PARSER)
    except etree.XMLSyntaxError as exc:
        raise ProbeFailure(f"HAN GetDevices answered malformed XML: {exc}") from exc
    fault = root.find(f".//{{{SOAP_ENV}}}Fault")
    if fault is not None:
        raise ProbeFailure(
            f"HAN GetDevices fault: {fault.findtext('faultstring') or 'no faultstring'}"
        )
    response = root.find(f".//{{{HAN_NS}}}GetDevicesResponse")
    if response is None or response.findtext(f"{{{HAN_NS}}}EsiId") != esiid:
        raise ProbeFailure("HAN GetDevices answered without a GetDevicesResponse for the ESI ID")


class HanGetDevicesProbe:
    service = "han"

    def __init__(
        self, client: httpx.AsyncClient, base_url: str, config: HanProbeConfig, clock: Clock
    ) -> None:
        self.client = client
        self.base_url = base_url
        self.config = config
        self.clock = clock

    async def check(self) -> None:
        created = self.clock.now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        url = f"{self.base_url}{self.config.path}"
        try:
            response = await self.client.post(
                url,
                content=get_devices_envelope(self.config, created),
                headers={
                    "Content-Type": "text/xml; charset=utf-8",
                    "SOAPAction": f'"{HAN_NS}/GetDevices"',
                },
            )
        except httpx.HTTPError as exc:
            raise ProbeFailure(f"HAN GetDevices at {url}: {type(exc).__name__}: {exc}") from exc
        if response.status_code not in (200, 500):
            raise ProbeFailure(f"HAN GetDevices answered HTTP {response.status_code}")
        check_get_devices_response(response.content, self.config.esiid)


class FtpsLoginProbe:
    service = "ftps-publisher"

    def __init__(self, config: FtpsProbeConfig, context: ssl.SSLContext, timeout: float) -> None:
        self.config = config
        self.context = context
        self.timeout = timeout

    def _transaction(self) -> None:
        # Explicit TLS on the control channel (auth) and the data channel (prot_p).
        ftp = ftplib.FTP_TLS(context=self.context, timeout=self.timeout)  # noqa: S321
        try:
            ftp.connect(self.config.host, self.config.port)
            ftp.auth()
            ftp.login(self.config.username, self.config.password.get_secret_value())
            ftp.prot_p()
            listing: list[str] = []
            ftp.retrlines("LIST", listing.append)
            ftp.quit()
        finally:
            ftp.close()

    async def check(self) -> None:
        try:
            await asyncio.to_thread(self._transaction)
        except (OSError, EOFError, ftplib.Error) as exc:
            where = f"{self.config.host}:{self.config.port}"
            raise ProbeFailure(
                f"FTPS login and listing at {where}: {type(exc).__name__}: {exc}"
            ) from exc


class NotifierSelfCheckProbe:
    """Over HTTP when the notifier's URL is configured (any replica answers), else in-process."""

    service = "notifier"

    def __init__(
        self,
        *,
        client: httpx.AsyncClient | None = None,
        base_url: str | None = None,
        local: Callable[[], Awaitable[tuple[bool, str]]] | None = None,
    ) -> None:
        self.client = client
        self.base_url = base_url
        self.local = local

    async def check(self) -> None:
        if self.client is not None and self.base_url:
            response = await _get(
                self.client, f"{self.base_url}/v1/selfcheck", "notifier self-check"
            )
            _expect(response, "notifier self-check")
            return
        assert self.local is not None
        healthy, detail = await self.local()
        if not healthy:
            raise ProbeFailure(f"notifier self-check: {detail}")
