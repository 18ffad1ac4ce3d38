"""``POST /v1/token`` (RFC 6749): client credentials, or a customer's password."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Literal
from urllib.parse import unquote_plus

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from meterhub_common.db import Session
from meterhub_usage_api.errors import InvalidClient, InvalidRequest, UnsupportedGrantType
from meterhub_usage_api.openapi import ok_headers
from meterhub_usage_api.tokens.service import TokenService

router = APIRouter(tags=["tokens"])


class TokenResponse(BaseModel):
    access_token: str = Field(description="An Ed25519-signed JWT; send as `Authorization: Bearer`.")
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 (a scheme name)
    expires_in: int = Field(description="Seconds the token is valid.", examples=[900])


class OAuthErrorBody(BaseModel):
    error: str = Field(examples=["invalid_client"])
    detail: str = Field(examples=["unknown client_id or wrong client_secret"])
    error_description: str = Field(examples=["unknown client_id or wrong client_secret"])


def _oauth_error(status: int, description: str, error: str, detail: str) -> dict[str, object]:
    headers = ok_headers()
    if status == 429:
        headers["Retry-After"] = {"schema": {"type": "integer"}}
    return {
        "model": OAuthErrorBody,
        "description": description,
        "headers": headers,
        "content": {
            "application/json": {
                "example": {"error": error, "detail": detail, "error_description": detail}
            }
        },
    }


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None  # not client authentication (a leftover bearer token, say)
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidClient("the Basic credentials are not valid base64 of id:secret") from exc
    client_id, sep, secret = decoded.partition(":")
    if not sep or "\x00" in decoded:
        raise InvalidClient("the Basic credentials must be client_id:client_secret")
    # RFC 6749 2.3.1: both parts are form-urlencoded before base64.
    return unquote_plus(client_id), unquote_plus(secret)


FormField = Annotated[str | None, Form()]


@router.post(
    "/v1/token",
    summary="Get a bearer token (OAuth2, RFC 6749)",
    description=(
        "Form-encoded. `grant_type=client_credentials` with `client_id` and `client_secret` "
        "in the form or in HTTP Basic, for TDSP, REP, CSP, regulator, operator and service "
        "clients; `grant_type=password` with `username` and `password` for customers. After "
        "repeated failures for one client id or username, sign-in is refused for a while "
        "(429 with Retry-After)."
    ),
    response_model=TokenResponse,
    responses={
        200: {"headers": ok_headers()},
        400: _oauth_error(
            400,
            "invalid_request, invalid_grant, unauthorized_client or unsupported_grant_type",
            "unsupported_grant_type",
            "grant_type must be client_credentials or password",
        ),
        401: _oauth_error(
            401, "invalid_client", "invalid_client", "unknown client_id or wrong client_secret"
        ),
        422: _oauth_error(422, "malformed form", "invalid_request", "grant_type: field required"),
        429: _oauth_error(
            429,
            "locked after repeated failures, or rate limited",
            "too_many_requests",
            "too many failed sign-ins for client rep-1; retry after 840 s",
        ),
    },
)
async def token(
    request: Request,
    session: Session,
    grant_type: FormField = None,
    client_id: FormField = None,
    client_secret: FormField = None,
    username: FormField = None,
    password: FormField = None,
    scope: FormField = None,
) -> JSONResponse:
    tokens = TokenService(session, request.app.state.token_issuer, request.app.state.settings)
    fields = (grant_type, client_id, client_secret, username, password, scope)
    if any(value is not None and "\x00" in value for value in fields):
        raise InvalidRequest("form fields may not contain NUL characters")
    if not grant_type:
        raise InvalidRequest("grant_type is required (client_credentials or password)")
    if grant_type == "client_credentials":
        basic = _basic_credentials(request)
        if basic is not None and (client_id or client_secret):
            raise InvalidRequest("send client credentials in HTTP Basic or in the form, not both")
        if basic is None:
            if not client_id or client_secret is None:
                raise InvalidClient("client_id and client_secret are required")
            basic = (client_id, client_secret)
        issued = await tokens.client_credentials(*basic)
    elif grant_type == "password":
        if not username or password is None:
            raise InvalidRequest("username and password are required for grant_type=password")
        issued = await tokens.password(username, password)
    else:
        raise UnsupportedGrantType(
            f"grant_type {grant_type!r} is not supported; use client_credentials or password"
        )
    return JSONResponse(
        {
            "access_token": issued.access_token,
            "token_type": "Bearer",
            "expires_in": issued.expires_in,
        },
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
    )
