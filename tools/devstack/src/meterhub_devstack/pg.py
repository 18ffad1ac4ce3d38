"""A throwaway PostgreSQL cluster from the installed server binaries.

PostgreSQL refuses to run as root, and these machines run as root, so when we are root the
server runs as the ``postgres`` system user on folders that user owns.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

SERVER_SETTINGS_DEV = {
    "listen_addresses": "'127.0.0.1'",
    "max_connections": "200",
    "shared_buffers": "'512MB'",
    "work_mem": "'32MB'",
    "maintenance_work_mem": "'256MB'",
    "max_wal_size": "'4GB'",
    "checkpoint_timeout": "'15min'",
    "wal_level": "'minimal'",
    "max_wal_senders": "0",
    "synchronous_commit": "'off'",
    "log_min_messages": "'warning'",
    "timezone": "'UTC'",
}
# Tests throw the cluster away, so durability buys nothing there.
SERVER_SETTINGS_TEST = {**SERVER_SETTINGS_DEV, "fsync": "'off'", "full_page_writes": "'off'"}


def find_pg_bin() -> Path:
    override = os.environ.get("MH_PG_BIN")
    if override:
        return Path(override)
    # Debian keeps the server binaries off PATH; prefer its newest major version.
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), reverse=True)
    on_path = shutil.which("initdb")
    if not candidates and on_path:
        return Path(on_path).parent
    if not candidates:
        raise RuntimeError(
            "PostgreSQL server binaries not found: install postgresql (apt-get install "
            "postgresql) or set MH_PG_BIN to the folder holding pg_ctl"
        )
    return Path(candidates[0]).parent


def free_port(preferred: int | None = None) -> int:
    if preferred:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", preferred))
                return preferred
            except OSError:
                pass
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class PostgresCluster:
    root: Path
    port: int
    database: str = "meterhub"
    user: str = "meterhub"
    test_mode: bool = False

    @classmethod
    def in_folder(
        cls, root: Path, *, preferred_port: int = 5432, test_mode: bool = False
    ) -> PostgresCluster:
        """Reuse the folder's cluster and its port across runs; pick a free port the first time."""
        root = root.absolute()  # postgres resolves a relative socket folder from its data folder
        port_file = root / "port"
        if port_file.exists():
            port = int(port_file.read_text())
        else:
            port = free_port(preferred_port)
            root.mkdir(parents=True, exist_ok=True)
            port_file.write_text(str(port))
        return cls(root=root, port=port, test_mode=test_mode)

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "run"

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{self.database}"

    def _as_owner(self, *args: str) -> list[str]:
        if os.geteuid() == 0:
            return ["runuser", "-u", "postgres", "--", *args]
        return list(args)

    def _chown(self, path: Path) -> None:
        if os.geteuid() == 0:
            shutil.chown(path, "postgres", "postgres")

    def initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def init(self) -> None:
        bin_dir = find_pg_bin()
        self.root.mkdir(parents=True, exist_ok=True)
        for folder in (self.root, self.socket_dir):
            folder.mkdir(parents=True, exist_ok=True)
            self._chown(folder)
        # The owner must be able to reach its folder through the checkout's parents.
        subprocess.run(
            self._as_owner(
                str(bin_dir / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                self.user,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "-N",
            ),
            check=True,
            capture_output=True,
        )
        settings = SERVER_SETTINGS_TEST if self.test_mode else SERVER_SETTINGS_DEV
        with (self.data_dir / "postgresql.auto.conf").open("a") as conf:
            for key, value in settings.items():
                conf.write(f"{key} = {value}\n")

    def running(self) -> bool:
        pid_file = self.data_dir / "postmaster.pid"
        if not pid_file.exists():
            return False
        result = subprocess.run(
            self._as_owner(str(find_pg_bin() / "pg_ctl"), "status", "-D", str(self.data_dir)),
            capture_output=True,
        )
        return result.returncode == 0

    def start(self) -> None:
        if not self.initialised():
            self.init()
        if self.running():
            self._ensure_database()
            return
        log = self.root / "postgres.log"
        if not log.exists():
            log.touch()
            self._chown(log)
        subprocess.run(
            self._as_owner(
                str(find_pg_bin() / "pg_ctl"),
                "start",
                "-D",
                str(self.data_dir),
                "-w",
                "-t",
                "60",
                "-l",
                str(log),
                "-o",
                f"-p {self.port} -k {self.socket_dir}",
            ),
            check=True,
            capture_output=True,
        )
        self._ensure_database()

    def _ensure_database(self) -> None:
        psql = str(find_pg_bin() / "psql")
        base = [
            psql,
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            self.user,
            "-d",
            "postgres",
            "-tAc",
        ]
        exists = subprocess.run(
            [*base, f"SELECT 1 FROM pg_database WHERE datname = '{self.database}'"],  # noqa: S608
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        if not exists:
            subprocess.run(
                [*base, f'CREATE DATABASE "{self.database}"'], check=True, capture_output=True
            )

    def stop(self, mode: str = "fast") -> None:
        if not self.running():
            return
        subprocess.run(
            self._as_owner(
                str(find_pg_bin() / "pg_ctl"), "stop", "-D", str(self.data_dir), "-m", mode, "-w"
            ),
            capture_output=True,
        )

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"PostgreSQL did not accept connections on port {self.port}")
