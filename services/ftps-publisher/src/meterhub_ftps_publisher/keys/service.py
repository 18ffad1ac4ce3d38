"""REP public keys: registration, rotation, and encrypting files to a REP's active key.

A REP's first key becomes active at once (nothing could be delivered otherwise). Every later
key is ``pending``: files stay encrypted to the old key until the REP confirms the new one,
so a REP never receives a file it cannot yet decrypt.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from meterhub_common.errors import Conflict, NotFound, Unprocessable
from meterhub_common.models.ftps_publisher import RepPublicKey
from meterhub_common.pgp import Keyring, PgpError, normalize_fingerprint
from meterhub_ftps_publisher.keys import repository

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class UsableKey:
    fingerprint: str
    armored: str


class NoUsableKey(Exception):
    """The REP has no active, unexpired public key: nothing can be encrypted to it."""

    def __init__(self, duns: str) -> None:
        super().__init__(f"REP {duns} has no active, unexpired public PGP key registered")
        self.duns = duns


class KeyVault:
    """The service's GnuPG home. REP keys live in the database; each is imported here the
    first time a file is encrypted to it (gpg needs it in a keyring)."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self._keyring: Keyring | None = None
        self._imported: set[str] = set()
        self._lock = asyncio.Lock()

    @property
    def keyring(self) -> Keyring:
        # Opened on first use: creating it runs gpgconf, which create_app must not do.
        if self._keyring is None:
            self._keyring = Keyring(self.home)
        return self._keyring

    def close(self) -> None:
        if self._keyring is not None:
            self._keyring.close()

    async def _ensure(self, key: UsableKey) -> None:
        if key.fingerprint in self._imported:
            return
        async with self._lock:
            if not await asyncio.to_thread(self.keyring.has_key, key.fingerprint):
                await self.keyring.aimport_keys(key.armored)
            self._imported.add(key.fingerprint)

    async def prepare(self, key: UsableKey) -> Path:
        """Import the key if needed; the GnuPG home a worker process encrypts to it from."""
        await self._ensure(key)
        return self.keyring.home

    async def encrypt_file(self, src: Path, dst: Path, key: UsableKey) -> None:
        """ASCII-armored, to exactly this key; ``dst`` appears complete or not at all."""
        await self._ensure(key)
        await self.keyring.aencrypt_file(src, dst, key.fingerprint, armor=True)

    async def inspect(self, armored: str) -> tuple[str, tuple[str, ...], datetime | None]:
        info = await self.keyring.ainspect_public_key(armored)
        return info.fingerprint, info.uids, info.expires


def key_view(key: RepPublicKey) -> dict[str, object]:
    return {
        "rep_duns": key.rep_duns,
        "fingerprint": key.fingerprint,
        "status": key.status,
        "uids": list(key.uids or []),
        "expires_at": key.expires_at,
        "created_at": key.created_at,
        "confirmed_at": key.confirmed_at,
        "retired_at": key.retired_at,
    }


async def register_key(
    session: AsyncSession, vault: KeyVault, duns: str, armored: str
) -> RepPublicKey:
    try:
        fingerprint, uids, expires = await vault.inspect(armored)
    except PgpError as exc:
        raise Unprocessable(f"the public key was refused: {exc.detail}", reason=exc.code) from exc
    now = datetime.now(UTC)
    await repository.lock_rep(session, duns)
    existing = await repository.find(session, duns, fingerprint)
    if existing is not None and existing.status != "retired":
        raise Conflict(
            f"key {fingerprint} is already registered for REP {duns} ({existing.status})"
        )
    has_active = await repository.active(session, duns) is not None
    # Only one key waits for confirmation at a time: the newest registration wins.
    await repository.retire(session, duns, "pending", now)
    status = "pending" if has_active else "active"
    if existing is not None:
        key = existing
        key.armored, key.uids, key.expires_at = armored, list(uids), expires
        key.status, key.retired_at, key.created_at = status, None, now
        key.confirmed_at = now if status == "active" else None
    else:
        key = RepPublicKey(
            id=uuid.uuid4(),
            rep_duns=duns,
            fingerprint=fingerprint,
            armored=armored,
            uids=list(uids),
            status=status,
            expires_at=expires,
            created_at=now,
            confirmed_at=now if status == "active" else None,
        )
        repository.add(session, key)
    await session.commit()
    log.info("REP %s registered key %s (%s)", duns, fingerprint, status)
    return key


async def confirm_key(session: AsyncSession, duns: str, fingerprint: str) -> RepPublicKey:
    try:
        fpr = normalize_fingerprint(fingerprint)
    except ValueError as exc:
        raise NotFound(f"no pending key {fingerprint} for REP {duns}") from exc
    await repository.lock_rep(session, duns)
    key = await repository.find(session, duns, fpr)
    if key is None or key.status != "pending":
        raise NotFound(f"no pending key {fpr} for REP {duns}")
    now = datetime.now(UTC)
    if key.expires_at is not None and key.expires_at <= now:
        raise Unprocessable(f"key {fpr} expired at {key.expires_at.isoformat()}; register another")
    await repository.retire(session, duns, "active", now)
    await session.flush()
    key.status, key.confirmed_at = "active", now
    await session.commit()
    log.info("REP %s confirmed key %s; it encrypts from now on", duns, fpr)
    return key


async def list_keys(session: AsyncSession, duns: str | None) -> list[RepPublicKey]:
    return await repository.list_keys(session, duns)
