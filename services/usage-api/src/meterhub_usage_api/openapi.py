"""What the OpenAPI document says about errors, rate limits and authentication."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, Field


class ErrorBody(BaseModel):
    """Every error: a machine-readable code and a sentence for a person."""

    error: str = Field(examples=["not_found"])
    detail: str = Field(examples=["ESI ID 10443720000000001 was not found"])


_RATE_HEADERS: dict[str, Any] = {
    "RateLimit-Policy": {
        "description": "The client's quota (IETF draft-ietf-httpapi-ratelimit-headers).",
        "schema": {"type": "string"},
        "example": '"client";q=200;w=4',
    },
    "RateLimit": {
        "description": "Requests left (r) and seconds until the quota is whole again (t).",
        "schema": {"type": "string"},
        "example": '"client";r=199;t=1',
    },
}

_ERRORS: dict[int, tuple[str, str, str]] = {
    400: ("bad request", "invalid_request", "the request is malformed"),
    401: ("no valid bearer token", "unauthorized", "a valid bearer token is required"),
    403: (
        "the client's role may not use this operation",
        "forbidden",
        "this operation is for operator clients",
    ),
    404: (
        "unknown ESI ID, or one the caller may not see in that range (the same answer)",
        "not_found",
        "ESI ID 10443720000000001 was not found",
    ),
    406: (
        "none of the Accept header's media types is offered",
        "not_acceptable",
        "offered media types are application/json, text/csv",
    ),
    422: (
        "invalid parameters",
        "unprocessable",
        "a synchronous interval read covers at most 40 days; request 90 days with an "
        "ad-hoc report (POST /v1/reports)",
    ),
    429: (
        "rate limit exceeded; retry after Retry-After seconds",
        "too_many_requests",
        "client rep-1 exceeded its rate limit of 200 requests per 4 s; retry after 1 s",
    ),
    503: ("the audit trail cannot keep up; retry", "service_unavailable", "retry shortly"),
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    responses: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        description, error, detail = _ERRORS[code]
        headers = dict(_RATE_HEADERS)
        if code == 429:
            headers["Retry-After"] = {
                "description": "Seconds to wait before the next request.",
                "schema": {"type": "integer"},
            }
        responses[code] = {
            "model": ErrorBody,
            "description": description,
            "headers": headers,
            "content": {"application/json": {"example": {"error": error, "detail": detail}}},
        }
    return responses


READ_ERRORS = error_responses(401, 404, 406, 422, 429, 503)

BEARER_SECURITY: dict[str, Any] = {"security": [{"bearer": []}, {"oauth2": []}]}


def ok_headers() -> dict[str, Any]:
    return dict(_RATE_HEADERS)


_UNLIMITED = frozenset({"/healthz", "/readyz"})


def _document_shared_answers(schema: dict[str, Any]) -> None:
    """Answers every operation can give whoever wrote it: the rate limiter's 429 (all but the
    probes), FastAPI's 400 for an unparsable body, and 401 where a bearer token is required."""
    for path, operations in schema.get("paths", {}).items():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            extra: list[int] = []
            if path not in _UNLIMITED:
                extra.append(429)
            if "requestBody" in operation:
                extra.append(400)
            if path == "/v1/me" or "security" in operation:
                extra.append(401)
            for code in extra:
                if str(code) not in responses:
                    documented = error_responses(code)[code]
                    responses[str(code)] = {
                        "description": documented["description"],
                        "headers": documented["headers"],
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/ErrorBody"},
                                **documented["content"]["application/json"],
                            }
                        },
                    }
            if path == "/v1/me":
                operation.setdefault("security", BEARER_SECURITY["security"])


def install_openapi(app: FastAPI) -> None:
    """Add the security schemes (bearer tokens from the client-credentials grant) and the
    answers the middleware and the framework give on every operation."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        components = schema.setdefault("components", {})
        components.setdefault("schemas", {}).setdefault("ErrorBody", ErrorBody.model_json_schema())
        _document_shared_answers(schema)
        components["securitySchemes"] = {
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "JWT",
                "description": "A token from POST /v1/token.",
            },
            "oauth2": {
                "type": "oauth2",
                "flows": {
                    "clientCredentials": {"tokenUrl": "/v1/token", "scopes": {}},
                    "password": {"tokenUrl": "/v1/token", "scopes": {}},
                },
            },
        }
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
