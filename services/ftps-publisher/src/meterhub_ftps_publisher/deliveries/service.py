"""Ad-hoc delivery: a finished report handed over by another service (the usage API).

Decision: the caller sends the report in plain form and this service zips and encrypts it,
because this service holds the REP public keys (registered and rotated here); a caller that
encrypted on its own would have to duplicate key handling and could use a key the REP has
not confirmed. The result is ``<file_name>.zip.asc`` (``<file_name>.asc`` when the content
is already a zip) in the requester's folder, placed atomically and kept ``retention_days``.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from meterhub_common.errors import Conflict, Unprocessable
from meterhub_ftps_publisher.keys.service import KeyVault, UsableKey
from meterhub_ftps_publisher.publishing import repository as repo
from meterhub_ftps_publisher.publishing.expand import remove_quietly, zip_any_file
from meterhub_ftps_publisher.publishing.folders import RepFolders, check_file_name

log = logging.getLogger(__name__)

ZIP_MAGIC = b"PK\x03\x04"


def _is_zip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(4) == ZIP_MAGIC


@dataclass(frozen=True, slots=True)
class Delivered:
    rep_duns: str
    file_name: str
    size_bytes: int
    key_fingerprint: str
    placed_at: datetime
    expires_at: datetime


async def deliver(
    pool: asyncpg.Pool,
    folders: RepFolders,
    vault: KeyVault,
    *,
    duns: str,
    file_name: str,
    content_path: Path,
    retention_days: int,
) -> Delivered:
    try:
        name = check_file_name(file_name)
    except ValueError as exc:
        raise Unprocessable(str(exc)) from exc
    async with pool.acquire() as conn:
        row = await repo.active_key(conn, duns)
    if row is None:
        raise Conflict(
            f"REP {duns} has no active, unexpired public PGP key; the report cannot be delivered"
        )
    key = UsableKey(row["fingerprint"], row["armored"])
    is_zip = await asyncio.to_thread(_is_zip, content_path)
    zip_name = name if name.lower().endswith(".zip") else f"{name}.zip"
    final_name = f"{zip_name}.asc"
    zipped = content_path
    if not is_zip:
        zipped = folders.work_path(".zip")
        await asyncio.to_thread(zip_any_file, str(content_path), str(zipped), name)
    try:
        final = folders.folder(duns) / final_name
        if final.exists():
            raise Conflict(f"{final_name} already exists in the folder of REP {duns}")
        tmp = folders.temp_path(duns, final_name)
        await vault.encrypt_file(zipped, tmp, key)
        await asyncio.to_thread(folders.place, tmp, final)
    finally:
        if zipped != content_path:
            await asyncio.to_thread(remove_quietly, zipped)
    placed = datetime.now(UTC)
    size = final.stat().st_size
    async with pool.acquire() as conn:
        await repo.record_files(
            conn,
            [
                repo.PublishedRow(
                    rep_duns=duns,
                    file_name=final_name,
                    kind="adhoc",
                    source="adhoc",
                    operating_day=None,
                    supplemental=False,
                    record_count=0,
                    esiid_count=0,
                    size_bytes=size,
                    key_fingerprint=key.fingerprint,
                    last_event_id=None,
                    placed_at=placed,
                )
            ],
        )
    log.info("ad-hoc report %s delivered to REP %s (%d bytes)", final_name, duns, size)
    return Delivered(
        duns, final_name, size, key.fingerprint, placed, placed + timedelta(days=retention_days)
    )
