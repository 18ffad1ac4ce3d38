"""Errors of the han service and the SOAP fault code each one is answered with.

The services raise the shared typed errors; the REST routes render them as JSON and the SOAP
endpoint turns them into faults with the codes the WSDL documents.
"""

from __future__ import annotations

from meterhub_common.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    MeterhubError,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    TooManyRequests,
    Unauthorized,
    Unprocessable,
)


class LimitExceeded(Conflict):
    """A count or size limit of the HAN rules (five devices per ESI ID, log period...)."""

    code = "limit_exceeded"


class InvalidTransition(Conflict):
    """A TDSP reported a status the state machine does not allow from the current one."""

    code = "invalid_transition"


def fault_code_for(error: MeterhubError) -> str:
    """The SOAP fault code (``Client.*`` or ``Server.*``) for a typed error."""
    # Order matters: the more specific classes first.
    mapping: list[tuple[type[MeterhubError], str]] = [
        (Unauthorized, "Client.Authentication"),
        (Forbidden, "Client.Authorization"),
        (NotFound, "Client.NotFound"),
        (LimitExceeded, "Client.Limit"),
        (PayloadTooLarge, "Client.Limit"),
        (TooManyRequests, "Client.Limit"),
        (Conflict, "Client.Conflict"),
        (BadRequest, "Client.Validation"),
        (Unprocessable, "Client.Validation"),
        (ServiceUnavailable, "Server.Unavailable"),
    ]
    for cls, code in mapping:
        if isinstance(error, cls):
            return code
    return "Server.Internal"
