"""SOAP 1.1 envelopes: hostile-input-safe parsing, responses and faults.

Incoming XML is parsed by lxml with entity resolution, network access, DTD loading and huge
trees all off, and any document type declaration is refused before and after parsing (an
internal DTD subset is where billion-laughs and XXE payloads live; SOAP forbids DTDs anyway).
The body size is capped by the caller before the bytes get here.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Final

from lxml import etree

SOAP_ENV: Final = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_ENV: Final = "http://www.w3.org/2003/05/soap-envelope"
HAN_NS: Final = "urn:meterhub:han:v1"
WSSE_NS: Final = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"

_ENVELOPE = f"{{{SOAP_ENV}}}Envelope"
_HEADER = f"{{{SOAP_ENV}}}Header"
_BODY = f"{{{SOAP_ENV}}}Body"
_MUST_UNDERSTAND = f"{{{SOAP_ENV}}}mustUnderstand"
_UNDERSTOOD_HEADERS = frozenset({f"{{{WSSE_NS}}}Security"})

# "<!DOCTYPE" / "<!ENTITY" in ASCII-compatible encodings; the parsed tree is checked too, for
# documents in UTF-16 or other encodings that hide the bytes.
_DTD_MARKERS = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


class SoapFault(Exception):
    """A fault to answer with: ``code`` is ``Client.*`` or ``Server.*``."""

    def __init__(self, code: str, message: str, *, http_status: int = 500) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.http_status = http_status


_local = threading.local()


def _parser() -> etree.XMLParser:
    # lxml parsers are not safe to share between threads; one per thread is cheap.
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
            collect_ids=False,
        )
        _local.parser = parser
    return parser


def parse_xml(data: bytes) -> etree._Element:
    """Parse untrusted XML, refusing any DTD; raises SoapFault(Client.Validation)."""
    if _DTD_MARKERS.search(data):
        raise SoapFault(
            "Client.Validation", "document type declarations (DTDs) are not allowed in SOAP"
        )
    try:
        root = etree.fromstring(data, parser=_parser())
    except etree.XMLSyntaxError as exc:
        raise SoapFault("Client.Validation", f"the request is not well-formed XML: {exc}") from exc
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise SoapFault(
            "Client.Validation", "document type declarations (DTDs) are not allowed in SOAP"
        )
    return root


@dataclass(frozen=True)
class Envelope:
    header: etree._Element | None
    payload: etree._Element


def parse_envelope(data: bytes) -> Envelope:
    root = parse_xml(data)
    if root.tag == f"{{{SOAP12_ENV}}}Envelope":
        raise SoapFault("VersionMismatch", "this service speaks SOAP 1.1, not SOAP 1.2")
    if root.tag != _ENVELOPE:
        raise SoapFault("Client.Validation", "the request is not a SOAP 1.1 Envelope")
    header: etree._Element | None = None
    body: etree._Element | None = None
    for child in root:
        if child.tag == _HEADER and header is None and body is None:
            header = child
        elif child.tag == _BODY and body is None:
            body = child
        else:
            raise SoapFault(
                "Client.Validation", f"unexpected element {child.tag} in the SOAP Envelope"
            )
    if body is None:
        raise SoapFault("Client.Validation", "the SOAP Envelope has no Body")
    if header is not None:
        for block in header:
            if block.get(_MUST_UNDERSTAND) in ("1", "true") and block.tag not in (
                _UNDERSTOOD_HEADERS
            ):
                raise SoapFault("MustUnderstand", f"header {block.tag} is not understood")
    children = list(body)
    if len(children) != 1:
        raise SoapFault(
            "Client.Validation", "the SOAP Body must hold exactly one operation element"
        )
    return Envelope(header=header, payload=children[0])


_ENVELOPE_OPEN = (
    b'<?xml version="1.0" encoding="utf-8"?>\n'
    b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
    b"<soap:Body>"
)
_ENVELOPE_CLOSE = b"</soap:Body></soap:Envelope>"


def response_bytes(payload: etree._Element) -> bytes:
    body: bytes = etree.tostring(payload, encoding="utf-8")
    return _ENVELOPE_OPEN + body + _ENVELOPE_CLOSE


def fault_bytes(code: str, message: str) -> bytes:
    fault = etree.Element(f"{{{SOAP_ENV}}}Fault", nsmap={"soap": SOAP_ENV})
    # SOAP 1.1 fault codes are QNames in the envelope namespace, dotted for refinement.
    etree.SubElement(fault, "faultcode").text = f"soap:{code}"
    etree.SubElement(fault, "faultstring").text = message
    if code.startswith(("Client.", "Server.")):
        detail = etree.SubElement(fault, "detail")
        info = etree.SubElement(detail, f"{{{HAN_NS}}}FaultDetail", nsmap={"han": HAN_NS})
        etree.SubElement(info, f"{{{HAN_NS}}}Code").text = code
        etree.SubElement(info, f"{{{HAN_NS}}}Message").text = message
    return response_bytes(fault)
