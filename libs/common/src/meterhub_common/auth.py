"""Identity shared by every service: principals, signed bearer tokens, secret hashing.

Tokens are Ed25519-signed JWTs. The usage API alone holds the private key and issues them;
every other service verifies them with the public key, with no database round trip.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import Depends, Request

from meterhub_common.errors import Forbidden, Unauthorized
from meterhub_common.models.usage_api import Role

AUDIENCE = "meterhub"
_hasher = PasswordHasher()


def hash_secret(secret: str) -> str:
    return _hasher.hash(secret)


def verify_secret(secret_hash: str, secret: str) -> bool:
    try:
        return _hasher.verify(secret_hash, secret)
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class Principal:
    """Who is calling: the entity behind the token and the client it used."""

    entity_id: uuid.UUID
    role: Role
    duns: str | None
    client_id: str

    def is_(self, *roles: Role) -> bool:
        return self.role in roles


def generate_signing_key(private_path: Path, public_path: Path) -> None:
    """Create the token key pair once; never committed, made at first run."""
    if private_path.exists() and public_path.exists():
        return
    key = Ed25519PrivateKey.generate()
    private_path.parent.mkdir(parents=True, exist_ok=True)
    private_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    private_path.chmod(0o600)
    public_path.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


class TokenIssuer:
    def __init__(self, private_key_pem: bytes, *, issuer: str, ttl_seconds: int = 900) -> None:
        self._key = serialization.load_pem_private_key(private_key_pem, password=None)
        self.issuer = issuer
        self.ttl_seconds = ttl_seconds

    def issue(self, principal: Principal, *, now: float | None = None) -> str:
        issued = int(now if now is not None else time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": AUDIENCE,
            "sub": principal.client_id,
            "ent": str(principal.entity_id),
            "role": principal.role.value,
            "duns": principal.duns,
            "iat": issued,
            "exp": issued + self.ttl_seconds,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._key, algorithm="EdDSA")  # type: ignore[arg-type]


class TokenVerifier:
    def __init__(self, public_key_pem: bytes, *, issuer: str) -> None:
        self._key = serialization.load_pem_public_key(public_key_pem)
        self.issuer = issuer

    @classmethod
    def from_file(cls, path: Path, *, issuer: str) -> TokenVerifier:
        return cls(path.read_bytes(), issuer=issuer)

    def verify(self, token: str) -> Principal:
        try:
            claims = jwt.decode(
                token,
                self._key,  # type: ignore[arg-type]
                algorithms=["EdDSA"],
                audience=AUDIENCE,
                issuer=self.issuer,
                options={"require": ["exp", "iat", "sub", "ent", "role"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("the bearer token has expired") from exc
        except jwt.PyJWTError as exc:
            raise Unauthorized("the bearer token is not valid") from exc
        try:
            return Principal(
                entity_id=uuid.UUID(claims["ent"]),
                role=Role(claims["role"]),
                duns=claims.get("duns"),
                client_id=claims["sub"],
            )
        except (ValueError, KeyError) as exc:
            raise Unauthorized("the bearer token carries unknown claims") from exc


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized()
    return token.strip()


def current_principal(request: Request) -> Principal:
    verifier: TokenVerifier = request.app.state.token_verifier
    return verifier.verify(bearer_token(request))


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_roles(*roles: Role) -> Any:
    """Dependency factory: the caller must hold one of ``roles``."""

    def dependency(principal: CurrentPrincipal) -> Principal:
        if principal.role not in roles:
            allowed = ", ".join(r.value for r in roles)
            raise Forbidden(f"this operation is for {allowed} clients")
        return principal

    return Depends(dependency)
