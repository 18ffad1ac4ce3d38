"""SOAP 1.1 for the simulator: safe parsing, schema validation, acknowledgements, faults."""

from __future__ import annotations

import hmac
import re
import threading
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Final

from lxml import etree

SOAP_ENV: Final = "http://schemas.xmlsoap.org/soap/envelope/"
NS: Final = "urn:meterhub:headend:v1"
WSSE_NS: Final = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
_DTD = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_local = threading.local()


class Fault(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _parser() -> etree.XMLParser:
    parser: etree.XMLParser | None = getattr(_local, "parser", None)
    if parser is None:
        parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            huge_tree=False,
            remove_comments=True,
            remove_pis=True,
        )
        _local.parser = parser
    return parser


@cache
def contract(name: str) -> str:
    return (files("meterhub_headend_sim") / "wsdl" / name).read_text(encoding="utf-8")


@cache
def schema() -> etree.XMLSchema:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    return etree.XMLSchema(etree.fromstring(contract("headend.xsd").encode(), parser=parser))


def served_wsdl(base_url: str) -> bytes:
    """The WSDL with our address and the XSD inlined (clients that refuse remote imports)."""
    base = base_url.rstrip("/")
    text = contract("headend.wsdl").replace(
        'location="http://localhost/soap"', f'location="{base}/soap"'
    )
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    wsdl = etree.fromstring(text.encode(), parser=parser)
    types = wsdl.find("{http://schemas.xmlsoap.org/wsdl/}types")
    assert types is not None
    for importing in list(types):
        types.remove(importing)
    types.append(etree.fromstring(contract("headend.xsd").encode(), parser=parser))
    data: bytes = etree.tostring(wsdl, xml_declaration=True, encoding="utf-8")
    return data


@dataclass(frozen=True)
class Request:
    operation: str
    fields: dict[str, str]
    command: str | None  # the Smart Energy command element of SendMessage/CancelMessage
    command_fields: dict[str, str]


def _flat(element: etree._Element) -> dict[str, str]:
    return {etree.QName(c).localname: (c.text or "").strip() for c in element if len(c) == 0}


def parse_request(data: bytes, username: str | None, password: str | None) -> Request:
    if _DTD.search(data):
        raise Fault("Client.Validation", "DTDs are not allowed")
    try:
        root = etree.fromstring(data, parser=_parser())
    except etree.XMLSyntaxError as exc:
        raise Fault("Client.Validation", f"not well-formed XML: {exc}") from exc
    if root.getroottree().docinfo.internalDTD is not None:
        raise Fault("Client.Validation", "DTDs are not allowed")
    if root.tag != f"{{{SOAP_ENV}}}Envelope":
        raise Fault("Client.Validation", "not a SOAP 1.1 envelope")
    body = root.find(f"{{{SOAP_ENV}}}Body")
    if body is None or len(body) != 1:
        raise Fault("Client.Validation", "the Body must hold one element")
    if username is not None:
        _check_token(root.find(f"{{{SOAP_ENV}}}Header"), username, password or "")
    payload = body[0]
    if not schema().validate(payload):
        problems = "; ".join(e.message for e in schema().error_log)
        raise Fault("Client.Validation", f"does not match headend.xsd: {problems}")
    qname = etree.QName(payload)
    command = None
    command_fields: dict[str, str] = {}
    for child in payload:
        if len(child):
            command = etree.QName(child).localname
            command_fields = _flat(child)
    return Request(qname.localname, _flat(payload), command, command_fields)


def _check_token(header: etree._Element | None, username: str, password: str) -> None:
    token = None
    if header is not None:
        token = header.find(f"{{{WSSE_NS}}}Security/{{{WSSE_NS}}}UsernameToken")
    if token is None:
        raise Fault("Client.Authentication", "a WS-Security UsernameToken is required")
    given_user = token.findtext(f"{{{WSSE_NS}}}Username") or ""
    given_password = token.findtext(f"{{{WSSE_NS}}}Password") or ""
    user_ok = hmac.compare_digest(given_user.encode(), username.encode())
    password_ok = hmac.compare_digest(given_password.encode(), password.encode())
    if not (user_ok and password_ok):
        raise Fault("Client.Authentication", "wrong WS-Security username or password")


def _envelope(payload: etree._Element) -> bytes:
    envelope = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soap": SOAP_ENV})
    etree.SubElement(envelope, f"{{{SOAP_ENV}}}Body").append(payload)
    data: bytes = etree.tostring(envelope, xml_declaration=True, encoding="utf-8")
    return data


def acknowledgement(
    operation: str, request_id: str, accepted: bool, duplicate: bool, reason: str | None
) -> bytes:
    element = etree.Element(f"{{{NS}}}{operation}Response", nsmap={"he": NS})
    etree.SubElement(element, f"{{{NS}}}RequestId").text = request_id
    etree.SubElement(element, f"{{{NS}}}Accepted").text = "true" if accepted else "false"
    etree.SubElement(element, f"{{{NS}}}Duplicate").text = "true" if duplicate else "false"
    if reason:
        etree.SubElement(element, f"{{{NS}}}Reason").text = reason
    if not schema().validate(element):
        raise RuntimeError(f"simulator built an invalid answer: {schema().error_log}")
    return _envelope(element)


def fault(code: str, message: str) -> bytes:
    element = etree.Element(f"{{{SOAP_ENV}}}Fault", nsmap={"soap": SOAP_ENV})
    etree.SubElement(element, "faultcode").text = f"soap:{code}"
    etree.SubElement(element, "faultstring").text = message
    detail = etree.SubElement(element, "detail")
    info = etree.SubElement(detail, f"{{{NS}}}HeadEndFault", nsmap={"he": NS})
    etree.SubElement(info, f"{{{NS}}}Code").text = code
    etree.SubElement(info, f"{{{NS}}}Message").text = message
    return _envelope(element)
