"""Each probe performs its real transaction, and fails with a reason when it cannot."""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from lxml import etree
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import TLS_FTPHandler
from pyftpdlib.servers import FTPServer

from meterhub_common.devtls import ServerCert
from meterhub_devstack.pg import free_port
from meterhub_notifier.probes.base import (
    FtpsProbeConfig,
    HanProbeConfig,
    IngestProbeConfig,
    ProbeFailure,
    UsageProbeConfig,
)
from meterhub_notifier.probes.runner import ProbeRunner
from meterhub_notifier.probes.setup import build_probes
from meterhub_notifier.probes.tokens import TokenSource
from meterhub_notifier.probes.transactions import (
    HAN_NS,
    SOAP_ENV,
    FtpsLoginProbe,
    HanGetDevicesProbe,
    IngestStatusProbe,
    UsageReadProbe,
    check_get_devices_response,
    get_devices_envelope,
)
from meterhub_notifier.settings import NotifierSettings

from ..conftest import FakeClock

REPO = Path(__file__).resolve().parents[3]
HAN_XSD = REPO / "services" / "han" / "src" / "meterhub_han" / "wsdl" / "han.xsd"
ESIID = "10443720000000001"


def token_and_api(calls: list[httpx.Request], api: httpx.Response) -> httpx.AsyncClient:
    def respond(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if request.url.path == "/v1/token":
            assert request.headers["content-type"] == "application/x-www-form-urlencoded"
            assert b"grant_type=client_credentials" in request.content
            return httpx.Response(200, json={"access_token": f"tok{len(calls)}", "expires_in": 900})
        return api

    return httpx.AsyncClient(transport=httpx.MockTransport(respond))


async def test_usage_probe_gets_a_fresh_token_and_reads_an_esiid() -> None:
    calls: list[httpx.Request] = []
    http = token_and_api(calls, httpx.Response(200, json={"intervals": []}))
    clock = FakeClock(datetime(2024, 3, 12, 20, 0, tzinfo=UTC))
    tokens = TokenSource(http, "https://usage.test/v1/token", "probe-rep", "secret", clock)
    config = UsageProbeConfig(client_id="probe-rep", client_secret="secret", esiid=ESIID)
    probe = UsageReadProbe(http, "https://usage.test", tokens, config, clock)
    await probe.check()
    await probe.check()
    assert [c.url.path for c in calls] == ["/v1/token", f"/v1/esiids/{ESIID}/intervals"] * 2
    read = calls[1]
    assert read.url.params["start"] == read.url.params["end"] == "2024-03-10"
    assert read.headers["authorization"] == "Bearer tok1"

    failing = token_and_api([], httpx.Response(404, json={"error": "not_found"}))
    tokens = TokenSource(failing, "https://usage.test/v1/token", "probe-rep", "secret", clock)
    with pytest.raises(ProbeFailure, match="usage read answered 404"):
        await UsageReadProbe(failing, "https://usage.test", tokens, config, clock).check()


async def test_ingest_probe_reuses_its_token_through_a_token_endpoint_outage() -> None:
    calls: list[httpx.Request] = []
    token_up = True

    def respond(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if request.url.path == "/v1/token":
            if not token_up:
                return httpx.Response(503)
            return httpx.Response(200, json={"access_token": "tdsp-token", "expires_in": 900})
        assert request.headers["authorization"] == "Bearer tdsp-token"
        return httpx.Response(200, json={"items": []})

    http = httpx.AsyncClient(transport=httpx.MockTransport(respond))
    clock = FakeClock(datetime(2024, 3, 12, 20, 0, tzinfo=UTC))
    tokens = TokenSource(http, "https://usage.test/v1/token", "probe-tdsp", "s", clock)
    probe = IngestStatusProbe(
        http,
        "https://ingest.test",
        tokens,
        IngestProbeConfig(client_id="probe-tdsp", client_secret="s"),
    )
    await probe.check()
    token_up = False
    clock.advance(minutes=10)  # past half-life: renewal fails, the token is still valid
    await probe.check()
    clock.advance(minutes=5)  # now expired and not renewable
    with pytest.raises(ProbeFailure, match="answered 503"):
        await probe.check()
    assert [c.url.path for c in calls].count("/v1/files") == 2


def test_han_envelope_matches_the_han_contract() -> None:
    config = HanProbeConfig(username="probe-rep", password="secret", esiid=ESIID)
    envelope = etree.fromstring(get_devices_envelope(config, "2024-03-12T20:00:00Z"))
    request = envelope.find(f"{{{SOAP_ENV}}}Body/{{{HAN_NS}}}GetDevices")
    assert request is not None
    schema = etree.XMLSchema(etree.parse(str(HAN_XSD)))
    schema.assertValid(request)
    password = envelope.find(".//{*}UsernameToken/{*}Password")
    assert password is not None and password.text == "secret"
    assert password.get("Type", "").endswith("#PasswordText")


def test_han_response_is_checked() -> None:
    ok = (
        f'<s:Envelope xmlns:s="{SOAP_ENV}"><s:Body><h:GetDevicesResponse xmlns:h="{HAN_NS}">'
        f"<h:EsiId>{ESIID}</h:EsiId><h:SlotsUsed>0</h:SlotsUsed><h:SlotsLimit>5</h:SlotsLimit>"
        "</h:GetDevicesResponse></s:Body></s:Envelope>"
    ).encode()
    check_get_devices_response(ok, ESIID)
    fault = (
        f'<s:Envelope xmlns:s="{SOAP_ENV}"><s:Body><s:Fault><faultcode>s:Client</faultcode>'
        "<faultstring>the UsernameToken is not valid</faultstring></s:Fault></s:Body></s:Envelope>"
    ).encode()
    with pytest.raises(ProbeFailure, match="UsernameToken is not valid"):
        check_get_devices_response(fault, ESIID)
    hostile = b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>'
    with pytest.raises(ProbeFailure):
        check_get_devices_response(hostile, ESIID)


async def test_han_probe_posts_soap_with_action() -> None:
    seen: list[httpx.Request] = []

    def respond(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        body = (
            f'<s:Envelope xmlns:s="{SOAP_ENV}"><s:Body><h:GetDevicesResponse xmlns:h="{HAN_NS}">'
            f"<h:EsiId>{ESIID}</h:EsiId><h:SlotsUsed>1</h:SlotsUsed><h:SlotsLimit>5</h:SlotsLimit>"
            "</h:GetDevicesResponse></s:Body></s:Envelope>"
        )
        return httpx.Response(200, text=body, headers={"content-type": "text/xml"})

    http = httpx.AsyncClient(transport=httpx.MockTransport(respond))
    config = HanProbeConfig(username="probe-rep", password="secret", esiid=ESIID)
    clock = FakeClock(datetime(2024, 3, 12, 20, 0, tzinfo=UTC))
    await HanGetDevicesProbe(http, "https://han.test", config, clock).check()
    assert seen[0].url.path == "/soap"
    assert seen[0].headers["soapaction"] == f'"{HAN_NS}/GetDevices"'
    assert b"<wsu:Created>2024-03-12T20:00:00Z</wsu:Created>" in seen[0].content


@pytest.fixture
def ftps_server(dev_tls: tuple[Path, ServerCert], tmp_path: Path) -> Iterator[int]:
    authorizer = DummyAuthorizer()
    folder = tmp_path / "rep"
    folder.mkdir()
    (folder / "IntervalMeterUsage01.asc").write_text("x")
    authorizer.add_user("probe-rep", "right-password", str(folder), perm="elr")

    class Handler(TLS_FTPHandler):  # type: ignore[misc]
        pass

    Handler.authorizer = authorizer
    Handler.certfile = str(dev_tls[1].cert_path)
    Handler.keyfile = str(dev_tls[1].key_path)
    Handler.tls_control_required = True
    Handler.tls_data_required = True
    Handler.auth_failed_timeout = 0.05
    Handler.passive_ports = range(free_port(), free_port() + 1)
    port = free_port()
    server = FTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"timeout": 0.2}, daemon=True)
    thread.start()
    yield port
    server.close_all()
    thread.join(timeout=5)


async def test_ftps_probe_logs_in_over_tls_and_lists(
    ftps_server: int, dev_tls: tuple[Path, ServerCert]
) -> None:
    context = ssl.create_default_context(cafile=str(dev_tls[0]))
    good = FtpsProbeConfig(
        host="127.0.0.1", port=ftps_server, username="probe-rep", password="right-password"
    )
    await FtpsLoginProbe(good, context, timeout=5).check()
    bad = FtpsProbeConfig(**{**good.model_dump(), "password": "wrong"})
    with pytest.raises(ProbeFailure, match="530"):
        await FtpsLoginProbe(bad, context, timeout=5).check()
    untrusted = ssl.create_default_context()  # the dev CA is not trusted: TLS must fail
    with pytest.raises(ProbeFailure, match="SSL"):
        await FtpsLoginProbe(good, untrusted, timeout=5).check()


class SlowProbe:
    service = "han"

    async def check(self) -> None:
        await asyncio.sleep(5)


class BrokenProbe:
    service = "ingest"

    async def check(self) -> None:
        raise ProbeFailure("ingest file list answered 500: boom")


async def test_runner_turns_timeouts_and_errors_into_down_minutes(
    settings: NotifierSettings,
    app,
    clock: FakeClock,  # type: ignore[no-untyped-def]
) -> None:
    quick = settings.model_copy(update={"probe_timeout_seconds": 0.2})
    runner = ProbeRunner(
        [SlowProbe(), BrokenProbe()], database=app.state.database, settings=quick, clock=clock
    )
    results = await runner.tick()
    assert results["han"].ok is False and "no answer within 0.2 s" in (results["han"].error or "")
    assert results["ingest"].error == "ingest file list answered 500: boom"


def test_probes_are_built_from_settings(settings: NotifierSettings) -> None:
    async def local() -> tuple[bool, str]:
        return True, "ok"

    configured = settings.model_copy(
        update={
            "service_urls": {
                "usage-api": "https://u.test",
                "han": "https://h.test",
                "ingest": "https://i.test",
            },
            "probe_credentials": {
                "usage-api": {"client_id": "r", "client_secret": "s", "esiid": ESIID},
                "ftps-publisher": {
                    "host": "ftps.test",
                    "port": 2121,
                    "username": "u",
                    "password": "p",
                },
            },
        }
    )
    http = httpx.AsyncClient()
    probes = build_probes(
        configured, http, FakeClock(datetime.now(UTC)), ssl.create_default_context(), local
    )
    # han and ingest have URLs but no probe account: not probed (a health check would lie).
    assert [p.service for p in probes] == ["usage-api", "ftps-publisher", "notifier"]
    broken = configured.model_copy(
        update={"probe_credentials": {"usage-api": {"client_id": "r", "esiid": ESIID}}}
    )
    with pytest.raises(ValueError, match=r"probe_credentials\['usage-api'\] is not valid"):
        build_probes(
            broken, http, FakeClock(datetime.now(UTC)), ssl.create_default_context(), local
        )
