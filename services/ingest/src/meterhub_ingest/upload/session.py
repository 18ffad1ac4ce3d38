"""The upload page's session: a signed cookie, and the CSRF token its forms carry.

The cookie is HttpOnly, Secure and SameSite=Strict, scoped to ``/upload`` and signed with
``MH_INGEST_SESSION_SECRET`` (itsdangerous, with a timestamp: it expires after
``MAX_AGE``). It holds a CSRF token from the first visit on (so the sign-in form is protected
too) and, once signed in, who the person signed in as. Signing in issues a new token.
"""

from __future__ import annotations

import hmac
import secrets
import uuid
from dataclasses import dataclass, replace

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

COOKIE = "mh_upload_session"
COOKIE_PATH = "/upload"
MAX_AGE = 8 * 3600


@dataclass(frozen=True)
class UploadSession:
    csrf: str
    client_id: str | None = None
    entity_id: uuid.UUID | None = None
    duns: str | None = None
    name: str | None = None

    @property
    def signed_in(self) -> bool:
        return self.client_id is not None and self.duns is not None

    def check_csrf(self, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf, token or "")

    def signed_in_as(
        self, client_id: str, entity_id: uuid.UUID, duns: str, name: str
    ) -> UploadSession:
        return UploadSession(secrets.token_urlsafe(32), client_id, entity_id, duns, name)

    def signed_out(self) -> UploadSession:
        return replace(
            self,
            csrf=secrets.token_urlsafe(32),
            client_id=None,
            entity_id=None,
            duns=None,
            name=None,
        )


class SessionCodec:
    def __init__(self, secret: str) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="meterhub-ingest-upload-session")

    def load(self, request: Request) -> UploadSession | None:
        raw = request.cookies.get(COOKIE)
        if not raw:
            return None
        try:
            data = self._serializer.loads(raw, max_age=MAX_AGE)
        except BadSignature:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("csrf"), str):
            return None
        entity = data.get("entity_id")
        return UploadSession(
            csrf=data["csrf"],
            client_id=data.get("client_id"),
            entity_id=uuid.UUID(entity) if entity else None,
            duns=data.get("duns"),
            name=data.get("name"),
        )

    def load_or_new(self, request: Request) -> tuple[UploadSession, bool]:
        existing = self.load(request)
        if existing is not None:
            return existing, False
        return UploadSession(csrf=secrets.token_urlsafe(32)), True

    def store(self, response: Response, session: UploadSession) -> None:
        value = self._serializer.dumps(
            {
                "csrf": session.csrf,
                "client_id": session.client_id,
                "entity_id": str(session.entity_id) if session.entity_id else None,
                "duns": session.duns,
                "name": session.name,
            }
        )
        response.set_cookie(
            COOKIE,
            value,
            max_age=MAX_AGE,
            path=COOKIE_PATH,
            secure=True,
            httponly=True,
            samesite="strict",
        )
