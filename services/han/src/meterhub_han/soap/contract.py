"""The contract files shipped with the package: the WSDL and XSD REPs see, and the head-end's.

The served WSDL has its placeholder address and schema location replaced by this service's
own URL, so a client generated from ``GET /soap?wsdl`` calls the host it downloaded it from.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from pathlib import Path

from lxml import etree

from meterhub_han.soap.envelope import SoapFault

WSDL_DIR = files("meterhub_han") / "wsdl"
_PLACEHOLDER_ADDRESS = 'location="https://localhost/soap"'

SERVED_SCHEMAS = ("han.xsd",)


def contract_path(name: str) -> Path:
    return Path(str(WSDL_DIR / name))


@cache
def contract_text(name: str) -> str:
    return (WSDL_DIR / name).read_text(encoding="utf-8")


_WSDL_NS = "http://schemas.xmlsoap.org/wsdl/"
_XSD_NS = "http://www.w3.org/2001/XMLSchema"


@cache
def served_wsdl(base_url: str) -> bytes:
    """The WSDL with this service's address and the XSD inlined in ``wsdl:types``.

    Inlined because careful clients refuse to follow imports over the network (zeep with
    ``forbid_external=True`` does), and one download is all a code generator then needs.
    """
    base = base_url.rstrip("/")
    text = contract_text("han.wsdl").replace(_PLACEHOLDER_ADDRESS, f'location="{base}/soap"')
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    wsdl = etree.fromstring(text.encode("utf-8"), parser=parser)
    schema = etree.fromstring(contract_text("han.xsd").encode("utf-8"), parser=parser)
    types = wsdl.find(f"{{{_WSDL_NS}}}types")
    assert types is not None, "han.wsdl has no wsdl:types"
    for importing in types.findall(f"{{{_XSD_NS}}}schema"):
        types.remove(importing)
    types.append(schema)
    served: bytes = etree.tostring(wsdl, xml_declaration=True, encoding="utf-8")
    return served


class Schema:
    """An XSD compiled once; validates single elements (a SOAP body's payload)."""

    def __init__(self, name: str) -> None:
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
        self._schema = etree.XMLSchema(etree.parse(str(contract_path(name)), parser=parser))

    def errors(self, element: etree._Element) -> list[str]:
        if self._schema.validate(element):
            return []
        return [entry.message for entry in self._schema.error_log]

    def check_request(self, element: etree._Element) -> None:
        problems = self.errors(element)
        if problems:
            raise SoapFault(
                "Client.Validation",
                "the request does not match the WSDL's schema: " + "; ".join(problems[:5]),
            )
