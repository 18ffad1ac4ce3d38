"""The pyftpdlib authorizer: one virtual user per REP DUNS, checked against the database.

Every login reads the account through the bridge (so a rotated password, a new allow-list
or a lockout applies at once), verifies the argon2 hash in the connection's own thread,
and writes failures through, so the lockout counts across connections and replicas.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from datetime import timedelta
from typing import Any

from pyftpdlib.authorizers import AuthenticationFailed

from meterhub_common.auth import verify_secret
from meterhub_ftps_publisher.ftps import repository
from meterhub_ftps_publisher.ftps.bridge import DbBridge
from meterhub_ftps_publisher.publishing.folders import RepFolders

log = logging.getLogger(__name__)

PERMISSIONS = "elrd"  # change dir, list, retrieve, delete: never upload, rename or mkdir
_DUNS = re.compile(r"[0-9]{9}(?:[0-9]{4})?")
_FAILED = "Authentication failed."


class DbAuthorizer:
    def __init__(
        self,
        bridge: DbBridge,
        folders: RepFolders,
        *,
        lockout_threshold: int,
        lockout_window: timedelta,
        lockout_duration: timedelta,
    ) -> None:
        self.bridge = bridge
        self.folders = folders
        self.lockout_threshold = lockout_threshold
        self.lockout_window = lockout_window
        self.lockout_duration = lockout_duration

    def validate_authentication(self, username: str, password: str, handler: Any) -> None:
        remote = str(getattr(handler, "remote_ip", ""))
        if not _DUNS.fullmatch(username or ""):
            log.info("FTPS login refused for unknown user %r from %s", username, remote)
            raise AuthenticationFailed(_FAILED)
        duns = username

        def get(pool: Any) -> Any:
            return repository.get_account(pool, duns)

        try:
            account = self.bridge.call(get)
        except Exception as exc:
            # The database is away or slow: refuse, say why, and keep the server up.
            log.exception("FTPS login of %s could not be checked", duns)
            raise AuthenticationFailed("Login temporarily unavailable; try again later.") from exc
        if account is None or account["disabled"] or account["password_hash"] is None:
            log.info("FTPS login refused for %s from %s: no usable account", duns, remote)
            raise AuthenticationFailed(_FAILED)
        locked_until = account["locked_until"]
        if locked_until is not None and locked_until > account["db_now"]:
            log.warning(
                "FTPS login refused for %s from %s: locked until %s",
                duns,
                remote,
                locked_until.isoformat(),
            )
            raise AuthenticationFailed(_FAILED)
        networks = account["allowed_networks"]
        if networks and not _address_allowed(remote, networks):
            log.warning("FTPS login refused for %s: %s is not on its allow-list", duns, remote)
            raise AuthenticationFailed(_FAILED)
        if not verify_secret(account["password_hash"], password):

            def fail(pool: Any) -> Any:
                return repository.record_failure(
                    pool,
                    duns,
                    self.lockout_window,
                    self.lockout_threshold,
                    self.lockout_duration,
                )

            result = self.bridge.call(fail)
            if result is not None and result["failures"] >= self.lockout_threshold:
                log.warning(
                    "FTPS account %s locked after %d failed logins (last from %s)",
                    duns,
                    result["failures"],
                    remote,
                )
            else:
                log.info("FTPS login failed for %s from %s: wrong password", duns, remote)
            raise AuthenticationFailed(_FAILED)

        def succeed(pool: Any) -> Any:
            return repository.record_success(pool, duns)

        self.bridge.call(succeed)
        log.info("FTPS login of %s from %s", duns, remote)

    def get_home_dir(self, username: str) -> str:
        return str(self.folders.folder(username))

    def has_user(self, username: str) -> bool:
        return bool(_DUNS.fullmatch(username or ""))

    def has_perm(self, username: str, perm: str, path: str | None = None) -> bool:
        return perm in PERMISSIONS

    def get_perms(self, username: str) -> str:
        return PERMISSIONS

    def get_msg_login(self, username: str) -> str:
        return f"Welcome, REP {username}. Files stay here for 10 days."

    def get_msg_quit(self, username: str) -> str:
        return "Goodbye."

    def impersonate_user(self, username: str, password: str) -> None:
        """Virtual users: every file operation runs as the service's own OS user."""

    def terminate_impersonation(self, username: str) -> None:
        """Nothing to undo (see impersonate_user)."""


def _address_allowed(remote: str, networks: list[str]) -> bool:
    try:
        address = ipaddress.ip_address(remote)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    for network in networks:
        try:
            if address in ipaddress.ip_network(network, strict=False):
                return True
        except ValueError:
            continue
    return False
