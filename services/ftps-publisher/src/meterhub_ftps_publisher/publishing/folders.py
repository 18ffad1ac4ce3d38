"""REP folders, file names, and placing a finished file atomically.

A file is written under a hidden temporary name (leading dot, ``.part`` suffix) in the REP's
own folder, fsynced, then renamed to its final name: the rename is atomic on one filesystem,
so a REP listing its folder sees a complete file or nothing. The FTPS server hides and
refuses every dot-name, so a temporary file can be neither listed nor fetched.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

from meterhub_common.domain.ids import validate_duns

PART_SUFFIX = ".part"
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,200}")

FILE_PREFIXES = {
    ("interval", False): "IntervalMeterUsage",
    ("interval", True): "IntervalMeterUsageSupplemental",
    ("daily", False): "DailyMeterUsage",
    ("daily", True): "DailyMeterUsageSupplemental",
}


def usage_file_stem(
    kind: str, supplemental: bool, duns: str, day: date, stamp: datetime, seq: int
) -> str:
    """``IntervalMeterUsage<DUNS>_<YYYYMMDD>_<YYYYMMDDHHMMSS>_<seq>`` (UTC stamp).

    Deterministic for a given batch of events, so re-running a batch after a crash replaces
    the same names instead of adding duplicates; the stamp and zero-padded sequence make
    names of one REP, kind and day sort in delivery order.
    """
    prefix = FILE_PREFIXES[(kind, supplemental)]
    return f"{prefix}{duns}_{day:%Y%m%d}_{stamp:%Y%m%d%H%M%S}_{seq:012d}"


def check_file_name(name: str) -> str:
    """A plain file name REPs will see: no path, no leading dot, a safe character set."""
    if not _SAFE_NAME.fullmatch(name) or ".." in name:
        raise ValueError(
            f"file name {name!r} must be 1-201 letters, digits, '.', '_' or '-', "
            "start with a letter or digit and contain no '..'"
        )
    return name


class RepFolders:
    def __init__(self, root: Path) -> None:
        self.root = Path(root).absolute()

    def ensure_root(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.work_dir.mkdir(mode=0o700, exist_ok=True)

    @property
    def work_dir(self) -> Path:
        # Zips in the making; hidden, and outside every REP folder.
        return self.root / ".work"

    def folder(self, duns: str) -> Path:
        path = self.root / validate_duns(duns)
        path.mkdir(mode=0o750, parents=True, exist_ok=True)
        return path

    def temp_path(self, duns: str, final_name: str) -> Path:
        return self.folder(duns) / f".{final_name}.{secrets.token_hex(6)}{PART_SUFFIX}"

    def work_path(self, suffix: str) -> Path:
        return self.work_dir / f"{secrets.token_hex(8)}{suffix}"

    @staticmethod
    def place(tmp: Path, final: Path, before_rename: Callable[[Path], None] | None = None) -> None:
        """fsync ``tmp``, rename it to ``final`` and fsync the folder; ``tmp`` is removed on
        any failure, so nothing partial remains visible or hidden."""
        try:
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            if before_rename is not None:
                before_rename(tmp)
            os.replace(tmp, final)
            dir_fd = os.open(final.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        finally:
            tmp.unlink(missing_ok=True)

    def remove_stale_parts(self, older_than_seconds: float) -> int:
        """Temporary files a crashed process left behind (never visible to REPs)."""
        if not self.root.exists():
            return 0
        cutoff = time.time() - older_than_seconds
        removed = 0
        candidates = [*self.root.glob(f"*/.*{PART_SUFFIX}"), *self.work_dir.glob("*")]
        for path in candidates:
            try:
                if path.is_file() and path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:
                continue
        return removed
