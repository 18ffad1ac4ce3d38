"""``meterhub-migrate``: Alembic with the package's own script location and DATABASE_URL.

Usage: ``meterhub-migrate [upgrade|downgrade|check|current|revision] [args...]``.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import sys
from pathlib import Path

import asyncpg
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from meterhub_common.db import libpq_url

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
CITUS_DDL = MIGRATIONS_DIR / "citus_distribute.sql"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", libpq_url(database_url).replace("%", "%%"))
    return config


@functools.cache
def head_revision() -> str:
    """The head of the shipped history; fixed for the life of a process (readiness asks often)."""
    script = ScriptDirectory(str(MIGRATIONS_DIR))
    head = script.get_current_head()
    assert head is not None, "the migration history is empty"
    return head


async def _run_sql(database_url: str, sql: str) -> None:
    connection = await asyncpg.connect(libpq_url(database_url))
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="meterhub-migrate")
    parser.add_argument("action", choices=["upgrade", "downgrade", "check", "current", "revision"])
    parser.add_argument("target", nargs="?", default=None)
    parser.add_argument("-m", "--message", default=None)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument(
        "--distribute",
        action="store_true",
        help="after upgrading, distribute the usage tables by ESI ID (Citus; on plain "
        "PostgreSQL only the monthly partitions are ensured)",
    )
    args = parser.parse_args(argv)
    if not args.database_url:
        parser.error("DATABASE_URL is not set (or pass --database-url)")
    config = alembic_config(args.database_url)
    if args.action == "upgrade":
        command.upgrade(config, args.target or "head")
        if args.distribute:
            asyncio.run(_run_sql(args.database_url, CITUS_DDL.read_text()))
    elif args.action == "downgrade":
        command.downgrade(config, args.target or "-1")
    elif args.action == "check":
        command.check(config)
    elif args.action == "current":
        command.current(config)
    else:
        command.revision(config, message=args.message, autogenerate=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
