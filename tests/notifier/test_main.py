"""The service starts from environment variables alone and runs its background work."""

from __future__ import annotations

import asyncio
import json
from datetime import date
from pathlib import Path

import pytest

from meterhub_common.db import libpq_url
from meterhub_notifier.main import create_app
from meterhub_notifier.settings import NotifierSettings

from .conftest import SmtpServer


@pytest.fixture
def environment(
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
    token_keys: tuple[Path, Path],
    smtp_server: SmtpServer,
    dev_tls: tuple[Path, object],
) -> None:
    values = {
        "DATABASE_URL": libpq_url(database_url),
        "MH_TOKEN_PUBLIC_KEY_FILE": str(token_keys[1]),
        "MH_ENVIRONMENT": "test",
        "MH_CA_CERT_FILE": str(dev_tls[0]),
        "MH_NOTIFIER_SMTP_HOST": "127.0.0.1",
        "MH_NOTIFIER_SMTP_PORT": str(smtp_server.port),
        "MH_NOTIFIER_FROM_ADDRESS": "notices@meterhub.test",
        "MH_NOTIFIER_LISTSERVS": json.dumps({"RMS": ["rms@x.test"], "AMWG": ["amwg@x.test"]}),
        "MH_NOTIFIER_DEFAULT_LISTSERVS": '["RMS"]',
        "MH_NOTIFIER_HOLIDAYS": '["2024-12-25", "2025-01-01"]',
        "MH_NOTIFIER_MAINTENANCE_WINDOW": "Sunday 00:00-04:00",
        "MH_NOTIFIER_SERVICE_URLS": json.dumps({"han": "https://han.test"}),
        "MH_NOTIFIER_PROBE_CREDENTIALS": json.dumps(
            {"han": {"username": "probe", "password": "pw", "esiid": "10443720000000001"}}
        ),
        "MH_NOTIFIER_INCIDENT_THRESHOLD_MINUTES": "5",
        "MH_NOTIFIER_DATABASE_POOL_SIZE": "1",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)


@pytest.mark.usefixtures("environment")
async def test_create_app_reads_the_environment_and_starts_its_work() -> None:
    app = create_app()
    settings: NotifierSettings = app.state.settings
    assert settings.holidays == [date(2024, 12, 25), date(2025, 1, 1)]
    assert settings.distribution == ["RMS"]
    assert str(settings.window) == "Sunday 00:00-04:00"
    assert settings.incident_threshold_minutes == 5
    assert settings.effective_han_reports_url == "https://han.test/v1/reports/devices"
    async with app.router.lifespan_context(app):
        assert [p.service for p in app.state.probe_runner.probes] == ["han", "notifier"]
        for _ in range(50):
            if app.state.outbox_worker.last_run_at is not None:
                break
            await asyncio.sleep(0.05)
        assert app.state.outbox_worker.last_run_at is not None
    assert app.state.http.is_closed


def test_mail_settings_are_required_outside_development(
    common_settings: dict[str, object],
) -> None:
    with pytest.raises(ValueError, match="smtp_host, from_address, listservs must be set"):
        NotifierSettings(**common_settings)
    development = NotifierSettings(**{**common_settings, "environment": "development"})
    assert (development.smtp_host, development.smtp_port) == ("127.0.0.1", 8025)
    assert set(development.listservs) == {"RMS", "AMWG"}
    with pytest.raises(ValueError, match="unknown service"):
        NotifierSettings(**common_settings, service_urls={"billing": "https://x"})
    with pytest.raises(ValueError, match="unknown listserv"):
        NotifierSettings(
            **{**common_settings, "environment": "development"}, default_listservs=["PUCT"]
        )
