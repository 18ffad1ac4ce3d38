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


async def test_an_expired_entry_is_renewed_by_reading_the_client_not_by_argon2(
    han: Any, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    auth = authenticator(han, 60)
    rep = han.world.rep
    token = UsernameToken(rep.client_id, rep.secret)
    await auth.authenticate(token)
    checks = []
    monkeypatch.setattr("meterhub_han.soap.auth.verify_secret", lambda *a: checks.append(a) or True)
    clock.now += 61
    assert (await auth.authenticate(token)).duns == rep.duns
    assert checks == []


async def test_a_changed_secret_refuses_the_old_one_once_its_entry_expires(
    han: Any, clock: Clock
) -> None:
    auth = authenticator(han, 60)
    rep, other = han.world.rep, han.world.other_rep
    token = UsernameToken(rep.client_id, rep.secret)
    await auth.authenticate(token)
    await han.connection.execute(
        text(
            "UPDATE api_clients SET secret_hash = (SELECT secret_hash FROM api_clients "
            "WHERE client_id = :other) WHERE client_id = :c"
        ),
        {"c": rep.client_id, "other": other.client_id},
    )
    clock.now += 61
    with pytest.raises(SoapFault):
        await auth.authenticate(token)
    assert await auth.authenticate(UsernameToken(rep.client_id, other.secret))


async def test_wrong_passwords_do_not_evict_the_right_one(
    han: Any, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    auth = authenticator(han, 60)
    rep = han.world.rep
    token = UsernameToken(rep.client_id, rep.secret)
    await auth.authenticate(token)
    for _ in range(3):
        with pytest.raises(SoapFault):
            await auth.authenticate(UsernameToken(rep.client_id, "guess"))
    monkeypatch.setattr("meterhub_han.soap.auth.verify_secret", lambda *a: False)
    assert (await auth.authenticate(token)).duns == rep.duns  # served from the cache
