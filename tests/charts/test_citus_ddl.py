"""The Citus DDL: it distributes exactly the tables that can be sharded by ESI ID, and on the
plain PostgreSQL the suite runs it degrades to monthly partitioning."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from datetime import date

import asyncpg

from meterhub_common.migrate import CITUS_DDL as DDL
from meterhub_common.models import Base
from meterhub_devstack.testing import migrate

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


def test_degrades_to_partitioning_on_plain_postgresql(
    fresh_database: Callable[[str], str],
) -> None:
    url = fresh_database("meterhub_citus_ddl")
    # Through the real command, as the Helm migration hook runs it.
    migrate(url, "upgrade", "head", "--distribute")

    async def check() -> None:
        connection = await asyncpg.connect(url)
        try:
            partition = f"interval_reads_p{date.today().replace(day=1):%Y_%m}"
            assert await connection.fetchval("SELECT to_regclass($1) IS NOT NULL", partition)
            citus = "SELECT count(*) FROM pg_extension WHERE extname = 'citus'"
            assert await connection.fetchval(citus) == 0
        finally:
            await connection.close()

    asyncio.run(check())
