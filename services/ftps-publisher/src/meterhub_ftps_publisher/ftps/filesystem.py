"""The REP's view of the disk: its own folder, flat, regular files only.

pyftpdlib already maps every client path under the user's root and resolves symlinks before
checking (``validpath``). On top of that: names starting with a dot (the publisher's
temporary files) are neither listed nor reachable, symlinks and anything that is not a
regular file are invisible and cannot be opened (``O_NOFOLLOW``), and there are no
sub-folders to change into.
"""

from __future__ import annotations

import os
import stat
from typing import Any

from pyftpdlib.filesystems import AbstractedFS, FilesystemError


def _no_follow(path: str, flags: int) -> int:
    return os.open(path, flags | os.O_NOFOLLOW)


class JailedFS(AbstractedFS):  # type: ignore[misc]
    def validpath(self, path: str) -> bool:
        if not super().validpath(path):
            return False
        root = os.path.realpath(self.root)
        relative = os.path.relpath(os.path.normpath(path), root)
        if relative == ".":
            return True
        parts = relative.split(os.sep)
        # Flat folders: only direct children, never hidden ones.
        return len(parts) == 1 and not parts[0].startswith(".") and parts[0] != ".."

    def _regular(self, path: str) -> bool:
        try:
            return stat.S_ISREG(os.lstat(path).st_mode)
        except OSError:
            return False

    def listdir(self, path: str) -> list[str]:
        if os.path.realpath(path) != os.path.realpath(self.root):
            raise FilesystemError("No such directory.")
        return [
            name
            for name in os.listdir(path)
            if not name.startswith(".") and self._regular(os.path.join(path, name))
        ]

    def listdirinfo(self, path: str) -> list[str]:
        return self.listdir(path)

    def open(self, filename: str, mode: str) -> Any:
        if "r" not in mode or "+" in mode or not self.validpath(filename):
            raise FilesystemError("Files here can only be downloaded.")
        try:
            # The opener adds O_NOFOLLOW; the file object keeps the path as its name, which
            # pyftpdlib reports to log_transfer.
            fh = open(filename, "rb", opener=_no_follow)  # noqa: SIM115 (pyftpdlib closes it)
        except OSError as exc:
            raise FilesystemError("No such file.") from exc
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            fh.close()
            raise FilesystemError("No such file.")
        return fh

    def chdir(self, path: str) -> None:
        if os.path.realpath(path) != os.path.realpath(self.root):
            raise FilesystemError("There are no sub-folders here.")
        super().chdir(path)

    def mkdir(self, path: str) -> None:
        raise FilesystemError("Folders cannot be created here.")

    def rmdir(self, path: str) -> None:
        raise FilesystemError("Folders cannot be removed here.")

    def rename(self, src: str, dst: str) -> None:
        raise FilesystemError("Files cannot be renamed here.")

    def remove(self, path: str) -> None:
        if not self.validpath(path) or not self._regular(path):
            raise FilesystemError("No such file.")
        os.remove(path)

    def lstat(self, path: str) -> os.stat_result:
        if not self.validpath(path):
            raise FilesystemError("No such file.")
        return os.lstat(path)

    def stat(self, path: str) -> os.stat_result:
        if not self.validpath(path):
            raise FilesystemError("No such file.")
        return os.stat(path)

    def isfile(self, path: str) -> bool:
        return self.validpath(path) and self._regular(path)

    def islink(self, path: str) -> bool:
        return False

    def isdir(self, path: str) -> bool:
        return bool(os.path.realpath(path) == os.path.realpath(self.root))

    def getsize(self, path: str) -> int:
        if not self.isfile(path):
            raise FilesystemError("No such file.")
        return os.path.getsize(path)

    def getmtime(self, path: str) -> float:
        if not self.isfile(path):
            raise FilesystemError("No such file.")
        return os.path.getmtime(path)
