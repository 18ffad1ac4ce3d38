"""The SOAP endpoint: bytes in, bytes out, every failure a SOAP fault with a clear code.

Order of work: size limit (by the router), safe parse, operation lookup, WS-Security
authentication, REP role, request schema, operation, response schema.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from lxml import etree

from meterhub_common.db import Database
from meterhub_common.errors import MeterhubError
from meterhub_common.models.usage_api import Role
from meterhub_han.errors import fault_code_for
from meterhub_han.settings import HanSettings
from meterhub_han.soap.auth import SoapAuthenticator
from meterhub_han.soap.contract import Schema
from meterhub_han.soap.envelope import (
    HAN_NS,
    SoapFault,
    fault_bytes,
    parse_envelope,
    response_bytes,
)
from meterhub_han.soap.operations import OPERATIONS, Call, Fields
from meterhub_han.soap.wsse import username_token

log = logging.getLogger(__name__)

SOAP_ACTION_PREFIX = f"{HAN_NS}/"
_WINDOW_SECONDS = 0.5
_BUSY_IN_FLIGHT = 16


@dataclass(frozen=True)
class SoapReply:
    status: int
    body: bytes


class SoapEndpoint:
    def __init__(self, database: Database, settings: HanSettings) -> None:
        self.database = database
        self.settings = settings
        self.schema = Schema("han.xsd")
        self.authenticator = SoapAuthenticator(
            database, cache_seconds=settings.credential_cache_seconds
        )
        self._in_flight = 0
        self._window_start = time.monotonic()
        self._calls_this_window = 0
        self._calls_last_window = 0

    def busy(self) -> bool:
        """REP calls are arriving in bulk: in the current or the last half-second window."""
        self._roll_window(time.monotonic())
        threshold = self.settings.soap_busy_calls_per_second * _WINDOW_SECONDS
        recent = max(self._calls_this_window, self._calls_last_window)
        return recent >= threshold or self._in_flight >= _BUSY_IN_FLIGHT

    def _roll_window(self, now: float) -> None:
        if now - self._window_start >= _WINDOW_SECONDS:
            elapsed_windows = (now - self._window_start) // _WINDOW_SECONDS
            self._calls_last_window = self._calls_this_window if elapsed_windows == 1 else 0
            self._calls_this_window = 0
            self._window_start = now

    async def handle(self, body: bytes, soap_action: str | None) -> SoapReply:
        self._roll_window(time.monotonic())
        self._calls_this_window += 1
        self._in_flight += 1
        try:
            return await self._reply(body, soap_action)
        finally:
            self._in_flight -= 1

    async def _reply(self, body: bytes, soap_action: str | None) -> SoapReply:
        try:
            return SoapReply(200, await self._handle(body, soap_action))
        except SoapFault as fault:
            return SoapReply(fault.http_status, fault_bytes(fault.code, fault.message))
        except MeterhubError as error:
            return SoapReply(500, fault_bytes(fault_code_for(error), error.detail))
        except Exception:  # the one boundary where a broad catch belongs
            log.exception("unhandled error in a SOAP operation")
            return SoapReply(
                500,
                fault_bytes("Server.Internal", "an unexpected error occurred; it has been logged"),
            )

    async def _handle(self, body: bytes, soap_action: str | None) -> bytes:
        envelope = parse_envelope(body)
        qname = etree.QName(envelope.payload)
        handler = OPERATIONS.get(qname.localname) if qname.namespace == HAN_NS else None
        if handler is None:
            raise SoapFault("Client.Validation", f"unknown operation {qname.text}")
        action = (soap_action or "").strip().strip('"')
        if action and action != SOAP_ACTION_PREFIX + qname.localname:
            raise SoapFault(
                "Client.Validation",
                f"SOAPAction {action!r} does not match the operation {qname.localname}",
            )
        principal = await self.authenticator.authenticate(username_token(envelope.header))
        if principal.role is not Role.REP or not principal.duns:
            raise SoapFault(
                "Client.Authorization", "the HAN service is for REP clients with a DUNS"
            )
        self.schema.check_request(envelope.payload)
        async with self.database.sessionmaker() as session:
            response = await handler(
                Call(session=session, rep_duns=principal.duns, settings=self.settings),
                Fields(envelope.payload),
            )
        problems = self.schema.errors(response)
        if problems:
            log.error("response to %s does not match the schema: %s", qname.localname, problems[:5])
            raise SoapFault("Server.Internal", "the response could not be built; it is logged")
        return response_bytes(response)
