"""Typed errors every service raises; the app skeleton renders them as JSON.

The body is always ``{"error": <code>, "detail": <sentence>}`` so clients can branch on
``error`` and show ``detail`` to a person.
"""

from __future__ import annotations

from typing import Any, ClassVar


class MeterhubError(Exception):
    status_code: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"

    def __init__(self, detail: str, *, headers: dict[str, str] | None = None, **extra: Any):
        super().__init__(detail)
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra


class BadRequest(MeterhubError):
    status_code = 400
    code = "bad_request"


class Unauthorized(MeterhubError):
    status_code = 401
    code = "unauthorized"

    def __init__(self, detail: str = "a valid bearer token is required", **kw: Any):
        kw.setdefault("headers", {"WWW-Authenticate": 'Bearer realm="meterhub"'})
        super().__init__(detail, **kw)


class Forbidden(MeterhubError):
    status_code = 403
    code = "forbidden"


class NotFound(MeterhubError):
    status_code = 404
    code = "not_found"


class Conflict(MeterhubError):
    status_code = 409
    code = "conflict"


class PayloadTooLarge(MeterhubError):
    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaType(MeterhubError):
    status_code = 415
    code = "unsupported_media_type"


class Unprocessable(MeterhubError):
    status_code = 422
    code = "unprocessable"


class TooManyRequests(MeterhubError):
    status_code = 429
    code = "too_many_requests"


class ServiceUnavailable(MeterhubError):
    status_code = 503
    code = "service_unavailable"
