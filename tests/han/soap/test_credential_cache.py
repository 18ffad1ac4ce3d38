"""The WS-Security credential cache: remembered only for the right password, and only for
``credential_cache_seconds`` (a disabled client is refused once its entry has expired)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import text

from meterhub_han.soap.auth import SoapAuthenticator
from meterhub_han.soap.envelope import SoapFault
from meterhub_han.soap.wsse import UsernameToken


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    # The module's own clock only: the event loop keeps the real one.
    monkeypatch.setattr("meterhub_han.soap.auth.time", SimpleNamespace(monotonic=clock))
    return clock


def authenticator(han: Any, seconds: float) -> SoapAuthenticator:
    return SoapAuthenticator(han.app.state.database, cache_seconds=seconds)


async def disable(han: Any, client_id: str) -> None:
    await han.connection.execute(
        text("UPDATE api_clients SET disabled_at = now() WHERE client_id = :c"), {"c": client_id}
    )


async def test_a_wrong_password_is_refused_while_the_right_one_is_cached(
    han: Any, clock: Clock
) -> None:
    auth = authenticator(han, 60)
    rep = han.world.rep
    assert (await auth.authenticate(UsernameToken(rep.client_id, rep.secret))).duns == rep.duns
    with pytest.raises(SoapFault) as refused:
        await auth.authenticate(UsernameToken(rep.client_id, rep.secret + "x"))
    assert refused.value.code == "Client.Authentication"
    # The refusal did not evict the right password, nor did the right one vouch for the wrong.
    assert (await auth.authenticate(UsernameToken(rep.client_id, rep.secret))).duns == rep.duns
    with pytest.raises(SoapFault):
        await auth.authenticate(UsernameToken(rep.client_id, ""))


async def test_a_disabled_client_is_refused_once_its_entry_expires(han: Any, clock: Clock) -> None:
    auth = authenticator(han, 60)
    rep = han.world.rep
    token = UsernameToken(rep.client_id, rep.secret)
    await auth.authenticate(token)
    await disable(han, rep.client_id)
    clock.now += 59
    await auth.authenticate(token)  # still remembered: the documented window
    clock.now += 2
    with pytest.raises(SoapFault) as refused:
        await auth.authenticate(token)
    assert refused.value.code == "Client.Authentication"


async def test_without_a_cache_a_disabled_client_is_refused_at_once(han: Any) -> None:
    auth = authenticator(han, 0)
    rep = han.world.rep
    token = UsernameToken(rep.client_id, rep.secret)
    await auth.authenticate(token)
    await disable(han, rep.client_id)
    with pytest.raises(SoapFault):
        await auth.authenticate(token)


async def test_a_cached_password_skips_the_argon2_check(
    han: Any, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    auth = authenticator(han, 60)
    rep = han.world.rep
    token = UsernameToken(rep.client_id, rep.secret)
    await auth.authenticate(token)
    checks = []
    monkeypatch.setattr("meterhub_han.soap.auth.verify_secret", lambda *a: checks.append(a) or True)
    for _ in range(5):
        await auth.authenticate(token)
    assert checks == []
