"""Hostile and malformed requests: each answered with a SOAP fault, none doing any harm."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from lxml import etree
from sqlalchemy import text

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
PROFILE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"


def security(username: str, password: str, kind: str = "PasswordText") -> str:
    return (
        f'<soap:Header><wsse:Security xmlns:wsse="{WSSE}"><wsse:UsernameToken>'
        f"<wsse:Username>{username}</wsse:Username>"
        f'<wsse:Password Type="{PROFILE}#{kind}">{password}</wsse:Password>'
        "</wsse:UsernameToken></wsse:Security></soap:Header>"
    )


def envelope(body: str, header: str = "", prolog: str = "") -> bytes:
    return (
        f'{prolog}<soap:Envelope xmlns:soap="{SOAP}" xmlns:han="urn:meterhub:han:v1">'
        f"{header}<soap:Body>{body}</soap:Body></soap:Envelope>"
    ).encode()


def fault_of(content: bytes) -> tuple[str, str]:
    root = etree.fromstring(content)
    fault = root.find(f"{{{SOAP}}}Body/{{{SOAP}}}Fault")
    assert fault is not None, content
    code = fault.findtext("faultcode") or ""
    detail = fault.findtext(".//{urn:meterhub:han:v1}Code")
    if detail is not None:
        assert code == f"soap:{detail}"
    return code.split(":")[-1], fault.findtext("faultstring") or ""


@pytest.fixture
async def post(han: Any) -> AsyncIterator[Any]:
    async with han.client() as client:

        async def send(data: bytes, **headers: str) -> Any:
            return await client.post(
                "/soap", content=data, headers={"Content-Type": "text/xml", **headers}
            )

        yield send


@pytest.fixture
def auth(han: Any) -> str:
    return security(han.world.rep.client_id, han.world.rep.secret)


async def assert_harmless(han: Any, esiid: str, post: Any, auth: str) -> None:
    """Nothing was written, and the service still answers a normal request."""
    written = await han.connection.scalar(
        text("SELECT count(*) FROM han_devices WHERE esiid = :e"), {"e": esiid}
    )
    assert written == 0
    response = await post(
        envelope(f"<han:GetDevices><han:EsiId>{esiid}</han:EsiId></han:GetDevices>", auth)
    )
    assert response.status_code == 200, response.text


async def test_xxe_external_entity_is_refused_and_never_read(
    han: Any, post: Any, auth: str
) -> None:
    esiid = await han.add_esiid()
    prolog = '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    body = f"<han:GetDevices><han:EsiId>&xxe;{esiid}</han:EsiId></han:GetDevices>"
    response = await post(envelope(body, auth, prolog))
    assert response.status_code == 500
    code, message = fault_of(response.content)
    assert code == "Client.Validation" and "DTD" in message
    assert b"root:" not in response.content
    await assert_harmless(han, esiid, post, auth)


async def test_xxe_parameter_entity_and_network_fetch_are_refused(
    han: Any, post: Any, auth: str
) -> None:
    prolog = (
        '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY % remote SYSTEM '
        '"http://127.0.0.1:9/evil.dtd"> %remote;]>'
    )
    response = await post(
        envelope("<han:GetDevices><han:EsiId>1</han:EsiId></han:GetDevices>", auth, prolog)
    )
    assert fault_of(response.content)[0] == "Client.Validation"


async def test_billion_laughs_is_refused_quickly(han: Any, post: Any, auth: str) -> None:
    esiid = await han.add_esiid()
    entities = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
        for i in range(1, 10)
    )
    prolog = f'<?xml version="1.0"?><!DOCTYPE lolz [{entities}]>'
    started = time.monotonic()
    response = await post(
        envelope("<han:GetDevices><han:EsiId>&lol9;</han:EsiId></han:GetDevices>", auth, prolog)
    )
    assert time.monotonic() - started < 1.0
    assert fault_of(response.content)[0] == "Client.Validation"
    assert len(response.content) < 2000
    await assert_harmless(han, esiid, post, auth)


async def test_a_dtd_hidden_in_utf16_is_still_refused(han: Any, post: Any, auth: str) -> None:
    document = (
        '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE r [<!ENTITY a "b">]>'
        + envelope("<han:GetDevices><han:EsiId>&a;</han:EsiId></han:GetDevices>", auth).decode()
    ).encode("utf-16")
    assert b"<!DOCTYPE" not in document  # the byte scan cannot see it; the parsed tree can
    response = await post(document)
    code, message = fault_of(response.content)
    assert code == "Client.Validation" and "DTD" in message


async def test_an_oversized_body_is_refused_before_it_is_read(
    han: Any, post: Any, auth: str
) -> None:
    limit = han.app.state.settings.max_body_bytes
    padding = "<!-- " + "x" * (limit + 10) + " -->"
    response = await post(
        envelope(f"<han:GetDevices><han:EsiId>1</han:EsiId>{padding}</han:GetDevices>", auth)
    )
    assert response.status_code == 413
    code, message = fault_of(response.content)
    assert code == "Client.Limit" and str(limit) in message


async def test_an_oversized_chunked_body_is_cut_off(han: Any, auth: str) -> None:
    limit = han.app.state.settings.max_body_bytes
    chunks_sent = 0

    async def stream() -> AsyncIterator[bytes]:
        nonlocal chunks_sent
        yield envelope("", auth)[:-30]
        for _ in range(1000):
            chunks_sent += 1
            yield b" " * 8192

    async with han.client() as client:
        response = await client.post(
            "/soap", content=stream(), headers={"Content-Type": "text/xml"}
        )
    assert response.status_code == 413
    assert fault_of(response.content)[0] == "Client.Limit"
    assert chunks_sent * 8192 < limit + 3 * 8192  # stopped reading soon after the limit


@pytest.mark.parametrize(
    ("data", "code", "words"),
    [
        (b"this is not xml", "Client.Validation", "not well-formed"),
        (b"<a><b></a>", "Client.Validation", "not well-formed"),
        (b"<notsoap/>", "Client.Validation", "SOAP 1.1 Envelope"),
        (
            b'<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body/></e:Envelope>',
            "VersionMismatch",
            "SOAP 1.1",
        ),
        (envelope(""), "Client.Validation", "exactly one operation"),
        (envelope("<han:Nope/>"), "Client.Validation", "unknown operation"),
        (envelope("<x:GetDevices xmlns:x='urn:other'/>"), "Client.Validation", "unknown operation"),
    ],
)
async def test_malformed_requests_get_clear_faults(
    han: Any, post: Any, data: bytes, code: str, words: str
) -> None:
    response = await post(data)
    assert response.status_code == 500
    got_code, message = fault_of(response.content)
    assert got_code == code and words in message


async def test_a_must_understand_header_we_do_not_know_is_refused(
    han: Any, post: Any, auth: str
) -> None:
    header = auth.replace(
        "</soap:Header>",
        '<x:Trace xmlns:x="urn:x" soap:mustUnderstand="1">1</x:Trace></soap:Header>',
    )
    response = await post(
        envelope("<han:GetDevices><han:EsiId>1</han:EsiId></han:GetDevices>", header)
    )
    assert fault_of(response.content)[0] == "MustUnderstand"


async def test_authentication_faults(han: Any, post: Any) -> None:
    world = han.world
    esiid = await han.add_esiid()
    body = f"<han:GetDevices><han:EsiId>{esiid}</han:EsiId></han:GetDevices>"
    cases = [
        ("", "Client.Authentication", "UsernameToken header is required"),
        (security(world.rep.client_id, "wrong"), "Client.Authentication", "not valid"),
        (security("nobody", "secret"), "Client.Authentication", "not valid"),
        (
            security(world.rep.client_id, world.rep.secret, "PasswordDigest"),
            "Client.Authentication",
            "PasswordText",
        ),
        (security(world.tdsp.client_id, world.tdsp.secret), "Client.Authorization", "REP"),
    ]
    for header, code, words in cases:
        response = await post(envelope(body, header))
        got_code, message = fault_of(response.content)
        assert (got_code, words in message) == (code, True), (header, message)
    # Unknown and wrong secrets read the same, so client ids cannot be probed.
    wrong = fault_of((await post(envelope(body, security(world.rep.client_id, "x")))).content)
    unknown = fault_of((await post(envelope(body, security("nobody", "x")))).content)
    assert wrong == unknown


async def test_a_disabled_client_is_refused(han: Any, post: Any, auth: str) -> None:
    await han.connection.execute(
        text("UPDATE api_clients SET disabled_at = now() WHERE client_id = :c"),
        {"c": han.world.rep.client_id},
    )
    response = await post(
        envelope("<han:GetDevices><han:EsiId>1</han:EsiId></han:GetDevices>", auth)
    )
    assert fault_of(response.content)[0] == "Client.Authentication"


async def test_schema_violations_and_soapaction_mismatch(han: Any, post: Any, auth: str) -> None:
    response = await post(
        envelope("<han:GetDevices><han:EsiId>12-34</han:EsiId></han:GetDevices>", auth)
    )
    code, message = fault_of(response.content)
    assert code == "Client.Validation" and "pattern" in message
    response = await post(
        envelope("<han:GetDevices><han:EsiId>1</han:EsiId><han:Extra/></han:GetDevices>", auth)
    )
    assert fault_of(response.content)[0] == "Client.Validation"
    response = await post(
        envelope("<han:GetDevices><han:EsiId>1</han:EsiId></han:GetDevices>", auth),
        SOAPAction='"urn:meterhub:han:v1/ProvisionDevice"',
    )
    code, message = fault_of(response.content)
    assert code == "Client.Validation" and "SOAPAction" in message


async def test_the_wsdl_and_schema_are_served(han: Any) -> None:
    async with han.client() as client:
        wsdl = await client.get("/soap?wsdl")
        xsd = await client.get("/soap", params={"xsd": "han.xsd"})
        missing = await client.get("/soap", params={"xsd": "../settings.py"})
    assert wsdl.status_code == 200 and wsdl.headers["content-type"].startswith("text/xml")
    root = etree.fromstring(wsdl.content)
    address = root.find(".//{http://schemas.xmlsoap.org/wsdl/soap/}address")
    assert address is not None and address.get("location") == "https://han.test/soap"
    operations = {
        op.get("name")
        for op in root.iterfind(
            "{http://schemas.xmlsoap.org/wsdl/}portType/{http://schemas.xmlsoap.org/wsdl/}operation"
        )
    }
    assert operations == {
        "ProvisionDevice",
        "DeprovisionDevice",
        "GetDevices",
        "GetDeviceHistory",
        "SendPriceMessage",
        "SendLoadControlEvent",
        "CancelLoadControlEvent",
        "CancelAllLoadControlEvents",
        "SendTextMessage",
        "CancelTextMessage",
        "GetMessageStatus",
        "GetMessagingLog",
    }
    assert etree.XMLSchema(etree.fromstring(xsd.content)) is not None
    assert missing.status_code == 404
