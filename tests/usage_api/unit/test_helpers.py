"""Pure pieces: content negotiation, month arithmetic, named parameters, settings from env."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from meterhub_common.models.usage_api import Role
from meterhub_usage_api.access.repository import visible_periods_sql
from meterhub_usage_api.access.service import DataKind, floor_day, months_before
from meterhub_usage_api.database import compile_named
from meterhub_usage_api.errors import NotAcceptable
from meterhub_usage_api.main import create_app
from meterhub_usage_api.settings import UsageApiSettings
from meterhub_usage_api.usage.negotiation import Format, negotiate

ALL = (Format.JSON, Format.CSV, Format.ATOM)


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, Format.JSON),
        ("", Format.JSON),
        ("*/*", Format.JSON),
        ("text/csv", Format.CSV),
        ("TEXT/CSV; charset=utf-8", Format.CSV),
        ("application/*", Format.JSON),
        ("application/atom+xml", Format.ATOM),
        ("text/csv;q=0.2, application/json;q=0.8", Format.JSON),
        ("text/csv;q=0, */*", Format.JSON),
        ("text/html, */*;q=0.1", Format.JSON),
    ],
)
def test_negotiate(accept: str | None, expected: Format) -> None:
    assert negotiate(accept, ALL) is expected


def test_negotiate_refuses_what_is_not_offered() -> None:
    with pytest.raises(NotAcceptable):
        negotiate("text/html", ALL)
    with pytest.raises(NotAcceptable):
        negotiate("application/atom+xml", (Format.JSON, Format.CSV))
    with pytest.raises(NotAcceptable):
        negotiate("application/json;q=0", (Format.JSON,))


def test_months_before_clamps_to_the_month_end() -> None:
    assert months_before(date(2026, 11, 20), 13) == date(2025, 10, 20)
    assert months_before(date(2026, 11, 20), 48) == date(2022, 11, 20)
    assert months_before(date(2026, 3, 31), 1) == date(2026, 2, 28)
    assert months_before(date(2024, 2, 29), 12) == date(2023, 2, 28)
    assert months_before(date(2026, 1, 15), 24) == date(2024, 1, 15)


def test_floors_by_role_and_kind() -> None:
    today = date(2026, 11, 20)
    assert floor_day(Role.REP, DataKind.INTERVALS, today) == date(2022, 11, 20)
    assert floor_day(Role.TDSP, DataKind.DAILY, today) == date(2022, 11, 20)
    assert floor_day(Role.CUSTOMER, DataKind.INTERVALS, today) == date(2025, 10, 20)
    assert floor_day(Role.CSP, DataKind.DAILY, today) == date(2025, 10, 20)
    assert floor_day(Role.REP, DataKind.MONTHLY, today) == date(2024, 11, 20)
    assert floor_day(Role.CUSTOMER, DataKind.MONTHLY, today) == date(2024, 11, 20)
    assert floor_day(Role.OPERATOR, DataKind.INTERVALS, today) > today


def test_every_role_has_a_rule_set_and_operators_see_nothing() -> None:
    for role in Role:
        assert "SELECT" in visible_periods_sql(role)
    assert "WHERE false" in visible_periods_sql(Role.OPERATOR)
    assert "service_history" in visible_periods_sql(Role.REP)
    assert "access_agreements" in visible_periods_sql(Role.CSP)
    assert "= ANY(:esiids)" in visible_periods_sql(Role.TDSP, many=True)


def test_compile_named_parameters() -> None:
    statement = compile_named("SELECT :a::date, x FROM t WHERE y = :b AND z = :a AND w = '00:15'")
    assert statement.sql == "SELECT $1::date, x FROM t WHERE y = $2 AND z = $1 AND w = '00:15'"
    assert statement.args({"a": 1, "b": 2, "c": 3}) == [1, 2]


def test_create_app_starts_from_environment_variables_only(
    monkeypatch: pytest.MonkeyPatch, token_keys: tuple[Path, Path], database_url: str
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("MH_ENVIRONMENT", "production")
    monkeypatch.setenv("MH_TOKEN_PUBLIC_KEY_FILE", str(token_keys[1]))
    monkeypatch.setenv("MH_USAGE_TOKEN_PRIVATE_KEY_FILE", str(token_keys[0]))
    monkeypatch.setenv("MH_USAGE_SYNC_READ_MAX_DAYS", "31")
    app = create_app()
    assert app.state.settings.sync_read_max_days == 31
    assert app.state.token_issuer.ttl_seconds == 900


def test_the_private_key_is_required_outside_development(
    monkeypatch: pytest.MonkeyPatch, token_keys: tuple[Path, Path], tmp_path: Path
) -> None:
    common = {"database_url": "postgresql://x@127.0.0.1/x", "token_public_key_file": token_keys[1]}
    with pytest.raises(ValueError, match="token_private_key_file"):
        UsageApiSettings(environment="production", **common)  # type: ignore[arg-type]
    # In development a missing pair is made beside the public key.
    public = tmp_path / "keys" / "token-public.pem"
    settings = UsageApiSettings(  # type: ignore[call-arg]
        environment="development",
        database_url="postgresql://x@127.0.0.1/x",
        token_public_key_file=public,
    )
    private = settings.private_key_path()
    assert private.exists() and public.exists()
    assert private.name == "token-private.pem"
