"""The Citus DDL: it distributes exactly the tables that can be sharded by ESI ID, and on the
plain PostgreSQL the suite runs it degrades to monthly partitioning."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from meterhub_common.models import Base

DDL = Path(__file__).resolve().parents[2] / "deploy" / "citus" / "distribute.sql"
USAGE_TABLES = {"interval_reads", "daily_reads", "monthly_usage"}


def _listed(kind: str) -> set[str]:
    block = re.search(rf"{kind} text\[\] := ARRAY\[(.*?)\]", DDL.read_text(), re.S)
    assert block, f"no {kind} list in {DDL}"
    return set(re.findall(r"'([a-z_]+)'", block.group(1)))


def test_every_distributed_table_has_the_esiid_in_its_primary_key() -> None:
    tables = Base.metadata.tables
    distributed = _listed("distributed")
    assert distributed >= USAGE_TABLES
    for name in distributed:
        assert "esiid" in tables[name].primary_key.columns, name


def test_distributed_tables_reference_only_colocated_or_reference_tables() -> None:
    tables = Base.metadata.tables
    allowed = _listed("distributed") | _listed("reference")
    for name in _listed("distributed") | _listed("reference"):
        for fk in tables[name].foreign_keys:
            assert fk.column.table.name in allowed, (name, fk.column.table.name)


async def test_degrades_to_partitioning_on_plain_postgresql(connection: AsyncConnection) -> None:
    await connection.exec_driver_sql(DDL.read_text())
    month = date.today().replace(day=1)
    partition = f"interval_reads_p{month:%Y_%m}"
    found = (
        await connection.execute(text("SELECT to_regclass(:n) IS NOT NULL"), {"n": partition})
    ).scalar_one()
    assert found
    citus = (
        await connection.execute(text("SELECT count(*) FROM pg_extension WHERE extname='citus'"))
    ).scalar_one()
    assert citus == 0
