"""Errors of the usage API beyond the shared ones: content negotiation and RFC 6749 (OAuth2).

OAuth2 errors keep the shared body (``error``, ``detail``) and add RFC 6749's
``error_description``, so both OAuth client libraries and our own clients read them.
"""

from __future__ import annotations

from typing import Any

from meterhub_common.errors import MeterhubError


class NotAcceptable(MeterhubError):
    status_code = 406
    code = "not_acceptable"


class OAuthError(MeterhubError):
    def __init__(self, detail: str, **kw: Any) -> None:
        kw.setdefault("headers", {})
        kw["headers"].update({"Cache-Control": "no-store", "Pragma": "no-cache"})
        super().__init__(detail, error_description=detail, **kw)


class InvalidRequest(OAuthError):
    status_code = 400
    code = "invalid_request"


class InvalidClient(OAuthError):
    status_code = 401
    code = "invalid_client"

    def __init__(self, detail: str, **kw: Any) -> None:
        kw.setdefault("headers", {"WWW-Authenticate": 'Basic realm="meterhub"'})
        super().__init__(detail, **kw)


class InvalidGrant(OAuthError):
    status_code = 400
    code = "invalid_grant"


class UnauthorizedClient(OAuthError):
    status_code = 400
    code = "unauthorized_client"


class UnsupportedGrantType(OAuthError):
    status_code = 400
    code = "unsupported_grant_type"


class SignInLocked(OAuthError):
    status_code = 429
    code = "too_many_requests"
