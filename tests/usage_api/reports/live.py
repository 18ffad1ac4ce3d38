"""Helpers for end-to-end tests against real servers: uvicorn on a loopback port, a TLS
certificate from a fresh development CA, and committed rows that are removed afterwards."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import uvicorn
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from meterhub_common.devtls import ServerCert, ensure_dev_ca, issue_server_cert
from tests.usage_api.conftest import Builder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def loopback_cert(folder: Path) -> tuple[ServerCert, Path]:
    """A server certificate for 127.0.0.1 and the CA file that trusts it."""
    ca = ensure_dev_ca(folder / "ca")
    return issue_server_cert(ca, folder / "certs", "loopback", ("127.0.0.1", "localhost")), (
        ca.cert_path
    )


@asynccontextmanager
async def serve(app: Any, port: int, cert: ServerCert | None = None) -> AsyncIterator[str]:
    """Run ``app`` (lifespan included) with uvicorn in this event loop; yields its base URL."""
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
        # Idle TLS keep-alive connections of other processes' clients (the simulator's) would
        # otherwise hold the shutdown for asyncio's 30 s TLS close.
        timeout_graceful_shutdown=1,
        ssl_certfile=str(cert.cert_path) if cert else None,
        ssl_keyfile=str(cert.key_path) if cert else None,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started or task.done():
            break
        await asyncio.sleep(0.02)
    if task.done():
        task.result()
        raise RuntimeError("uvicorn stopped before it started")
    try:
        yield f"{'https' if cert else 'http'}://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)


class CommittedData:
    """A Builder whose rows are committed (other processes see them) and deleted at the end."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.esiids: list[str] = []
        self.entities: list[uuid.UUID] = []

    @asynccontextmanager
    async def builder(self) -> AsyncIterator[Builder]:
        async with self.engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            builder = Builder(connection)
            original_esiid, original_entity = builder.esiid, builder.entity

            async def esiid(*args: Any, **kwargs: Any) -> str:
                value = await original_esiid(*args, **kwargs)
                self.esiids.append(value)
                return value

            async def entity(*args: Any, **kwargs: Any) -> uuid.UUID:
                value = await original_entity(*args, **kwargs)
                self.entities.append(value)
                return value

            builder.esiid = esiid  # type: ignore[method-assign]
            builder.entity = entity  # type: ignore[method-assign]
            yield builder

    async def remove(self) -> None:
        async with self.engine.begin() as connection:
            ids, entities = self.esiids, self.entities
            for sql in (
                "DELETE FROM report_requests WHERE requester_entity_id = ANY(:entities)",
                "DELETE FROM odr_requests WHERE esiid = ANY(:ids)",
                "DELETE FROM odr_daily_counts WHERE tdsp_duns IN"
                " (SELECT duns FROM entities WHERE id = ANY(:entities))",
                "DELETE FROM interval_reads WHERE esiid = ANY(:ids)",
                "DELETE FROM daily_reads WHERE esiid = ANY(:ids)",
                "DELETE FROM customer_esiid_links WHERE esiid = ANY(:ids)",
                "DELETE FROM service_history WHERE esiid = ANY(:ids)",
                "DELETE FROM meters WHERE esiid = ANY(:ids)",
                "DELETE FROM esiids WHERE esiid = ANY(:ids)",
                "DELETE FROM customer_accounts WHERE entity_id = ANY(:entities)",
            ):
                await connection.execute(text(sql), {"ids": ids, "entities": entities})
