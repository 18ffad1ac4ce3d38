"""WS-Security UsernameToken (OASIS WSS 1.0 UsernameToken Profile), PasswordText only.

Username is the API client id and Password its secret. Secrets are stored as argon2 hashes,
so a PasswordDigest (SHA-1 of nonce, time and the plain password) cannot be checked and is
refused with a message that says what to send instead. TLS protects the plain password.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from lxml import etree

from meterhub_han.soap.envelope import WSSE_NS, SoapFault

WSU_NS: Final = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
_PROFILE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
PASSWORD_TEXT: Final = _PROFILE + "#PasswordText"
MAX_CLOCK_SKEW: Final = timedelta(minutes=5)
MAX_FIELD_LENGTH: Final = 512


@dataclass(frozen=True)
class UsernameToken:
    username: str
    password: str


def _fail(message: str) -> SoapFault:
    return SoapFault("Client.Authentication", message)


def username_token(header: etree._Element | None, now: datetime | None = None) -> UsernameToken:
    if header is None:
        raise _fail("a WS-Security UsernameToken header is required")
    security = header.find(f"{{{WSSE_NS}}}Security")
    token = None if security is None else security.find(f"{{{WSSE_NS}}}UsernameToken")
    if token is None:
        raise _fail("a WS-Security UsernameToken header is required")
    username = token.findtext(f"{{{WSSE_NS}}}Username")
    password_el = token.find(f"{{{WSSE_NS}}}Password")
    if not username or password_el is None or password_el.text is None:
        raise _fail("the UsernameToken needs a Username and a Password")
    kind = password_el.get("Type")
    if kind is not None and kind not in (PASSWORD_TEXT, "wsse:PasswordText", "PasswordText"):
        raise _fail(
            f"password type {kind!r} is not supported: send the client secret as PasswordText "
            "(the connection is TLS)"
        )
    if len(username) > MAX_FIELD_LENGTH or len(password_el.text) > MAX_FIELD_LENGTH:
        raise _fail("the UsernameToken's Username or Password is too long")
    created = token.findtext(f"{{{WSU_NS}}}Created")
    if created:
        _check_created(created, now or datetime.now(UTC))
    return UsernameToken(username=username.strip(), password=password_el.text)


def _check_created(text: str, now: datetime) -> None:
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise _fail(f"the UsernameToken's Created time {text!r} is not a date and time") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if abs(now - moment) > MAX_CLOCK_SKEW:
        raise _fail("the UsernameToken's Created time is more than 5 minutes from ours")
