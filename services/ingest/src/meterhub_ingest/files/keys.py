"""The repository's PGP key pair: TDSPs encrypt to its public key, workers decrypt with it."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from meterhub_common.pgp import Keyring
from meterhub_common.settings import Environment
from meterhub_ingest.settings import IngestSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RepositoryKey:
    keyring: Keyring
    fingerprint: str
    armored: str


def open_repository_key(settings: IngestSettings) -> RepositoryKey:
    """Open the keyring in ``pgp_home`` and find the repository key (blocking: gpg calls).

    In development, an empty default home gets a fresh key pair so the service starts with
    nothing configured; anywhere else a missing key is a configuration error.
    """
    keyring = Keyring(settings.effective_pgp_home)
    fingerprint = settings.pgp_fingerprint
    if fingerprint is None:
        secret = [str(f) for f in keyring.gpg.list_keys(secret=True).fingerprints]
        if not secret and settings.environment is Environment.DEVELOPMENT:
            fingerprint = keyring.generate_key(
                "Meterhub repository (development)", "dev@meterhub.invalid"
            )
            log.warning(
                "generated a development repository key %s in %s", fingerprint, keyring.home
            )
        elif len(secret) != 1:
            raise RuntimeError(
                f"{keyring.home} holds {len(secret)} secret keys; set MH_INGEST_PGP_FINGERPRINT "
                "to the repository key's fingerprint"
            )
        else:
            fingerprint = secret[0]
    if not keyring.has_key(fingerprint, secret=True):
        raise RuntimeError(f"{keyring.home} does not hold the secret key {fingerprint}")
    return RepositoryKey(keyring, fingerprint, keyring.export_public(fingerprint))


class RepositoryKeyHolder:
    """Opens the key once, on first use, off the event loop."""

    def __init__(self, settings: IngestSettings) -> None:
        self._settings = settings
        self._key: RepositoryKey | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> RepositoryKey:
        if self._key is None:
            async with self._lock:
                if self._key is None:
                    self._key = await asyncio.to_thread(open_repository_key, self._settings)
        return self._key
