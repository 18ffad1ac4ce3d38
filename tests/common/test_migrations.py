"""The single Alembic history: upgrade, no drift against the models, down to base and up."""

from __future__ import annotations

import subprocess

import pytest

from meterhub_devstack.testing import migrate


def test_upgrade_check_downgrade_upgrade(empty_database_url: str) -> None:
    migrate(empty_database_url, "upgrade", "head")
    # `alembic check` fails when the models and the migrations disagree.
    migrate(empty_database_url, "check")
    migrate(empty_database_url, "downgrade", "base")
    migrate(empty_database_url, "upgrade", "head")
    migrate(empty_database_url, "check")


def test_check_reports_drift_when_a_model_is_not_migrated(empty_database_url: str) -> None:
    migrate(empty_database_url, "upgrade", "head")
    migrate(empty_database_url, "downgrade", "-1")
    with pytest.raises(subprocess.CalledProcessError) as failure:
        migrate(empty_database_url, "check")
    assert "Target database is not up to date" in failure.value.stderr
    migrate(empty_database_url, "upgrade", "head")
