"""From the stored bytes of a file to its text lines: fetch, decrypt, unzip, decode, stream.

Everything streams through temporary files in a private directory: the blob is copied out of
the database in slices, gpg decrypts file to file, and the zip member is decompressed and
decoded a chunk at a time. Memory stays flat whatever the size of the file; a line longer
than ``MAX_LINE`` characters is cut there and marked so that the parser rejects its record;
even a file without line ends cannot fill memory.

Faults the sender can fix raise :class:`FileRejected` with the file-level code (F10 not a
zip, F11 cannot be decrypted, F12 encrypted to another key, F15 signature).
"""

from __future__ import annotations

import codecs
import uuid
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Literal

import asyncpg

from meterhub_common.pgp import Keyring, PgpError
from meterhub_ingest.files.report import FileRejected
from meterhub_ingest.lse.codes import ResultCode

MAX_LINE = 64 * 1024
# Appended to a line cut at MAX_LINE: extra empty and odd fields make every LSE row type fail
# its field checks, so the record is rejected instead of loaded with a cut value.
CUT_MARK = ",,,(line cut: longer than 65536 characters)"
_READ_CHUNK = 1 << 20
_BLOB_SLICE = 4 << 20

Format = Literal["pgp", "zip", "text"]

_PGP_CODES: dict[str, ResultCode] = {
    "not-encrypted": ResultCode.CANNOT_DECRYPT,
    "not-decryptable": ResultCode.CANNOT_DECRYPT,
    "bad-key": ResultCode.CANNOT_DECRYPT,
    "wrong-recipient": ResultCode.WRONG_KEY,
    "bad-signature": ResultCode.BAD_SIGNATURE,
}


def detect_format(head: bytes) -> Format:
    """What the first bytes of an upload look like: OpenPGP, a zip archive, or anything else.

    Binary OpenPGP starts with a packet tag byte, which always has its high bit set; armored
    OpenPGP starts with its BEGIN line. Text (CSV, LSE) never has the high bit in its first
    byte unless it starts with a UTF-8 byte-order mark, which is checked first.
    """
    stripped = head.lstrip()
    if stripped.startswith(b"-----BEGIN PGP MESSAGE-----"):
        return "pgp"
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return "zip"
    if head.startswith(codecs.BOM_UTF8):
        return "text"
    if head and head[0] & 0x80:
        return "pgp"
    return "text"


async def fetch_blob(conn: asyncpg.Connection, file_id: uuid.UUID, dest: Path) -> int:
    """Copy a stored file into ``dest`` in slices; returns its size."""
    size = await conn.fetchval(
        "SELECT octet_length(content) FROM tdsp_file_blobs WHERE file_id = $1", file_id
    )
    if size is None:
        raise RuntimeError(f"file {file_id} has no stored content")
    with dest.open("wb") as out:
        for offset in range(0, size, _BLOB_SLICE):
            piece = await conn.fetchval(
                "SELECT substring(content FROM $2 FOR $3) FROM tdsp_file_blobs WHERE file_id = $1",
                file_id,
                offset + 1,
                _BLOB_SLICE,
            )
            out.write(piece)
    return int(size)


async def decrypt(
    keyring: Keyring,
    src: Path,
    dst: Path,
    *,
    passphrase: str | None,
    expected_signer: str | None,
) -> None:
    try:
        await keyring.adecrypt_file(
            src, dst, passphrase=passphrase, expected_signer=expected_signer
        )
    except PgpError as exc:
        code = _PGP_CODES.get(exc.code, ResultCode.CANNOT_DECRYPT)
        raise FileRejected(code.value, f"the file cannot be opened: {exc.detail}") from exc


def lines_from(stream: IO[bytes], *, on_error: str = "") -> Iterator[str]:
    """Decode UTF-8 text (invalid bytes become U+FFFD) and yield its lines without line ends.

    Splitting whole chunks is several times faster than reading line by line. ``on_error`` is
    the prefix of the message when reading the underlying stream fails (a damaged zip).
    """
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    carry = ""
    skipping = False  # inside the cut-off rest of an overlong line
    while True:
        try:
            chunk = stream.read(_READ_CHUNK)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
            raise FileRejected(
                ResultCode.NOT_A_ZIP.value, f"{on_error}the zip archive is damaged: {exc}"
            ) from exc
        final = not chunk
        text = carry + decoder.decode(chunk, final)
        parts = text.split("\n")
        carry = parts.pop()
        for part in parts:
            if skipping:
                skipping = False
                continue
            yield part if len(part) <= MAX_LINE else part[:MAX_LINE] + CUT_MARK
        if skipping:
            carry = ""
        elif len(carry) > MAX_LINE:
            yield carry[:MAX_LINE] + CUT_MARK
            carry = ""
            skipping = True
        if final:
            if carry:
                yield carry
            return


def zip_member_lines(path: Path, *, max_unzipped_bytes: int) -> Iterator[str]:
    """The lines of the single file in the zip archive at ``path``."""
    if not zipfile.is_zipfile(path):
        raise FileRejected(
            ResultCode.NOT_A_ZIP.value,
            "the file is not a zip archive; LSE and CSV files are sent zipped, then encrypted",
        )
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise FileRejected(
            ResultCode.NOT_A_ZIP.value, f"the zip archive is damaged: {exc}"
        ) from exc
    with archive:
        members = [info for info in archive.infolist() if not info.is_dir()]
        if len(members) != 1:
            names = ", ".join(info.filename for info in members[:5]) or "nothing"
            raise FileRejected(
                ResultCode.NOT_A_ZIP.value,
                f"the zip archive holds {len(members)} files ({names}); exactly one is expected",
            )
        member = members[0]
        if member.flag_bits & 0x1:
            raise FileRejected(
                ResultCode.NOT_A_ZIP.value,
                f"{member.filename} in the zip archive is password-protected; use PGP only",
            )
        if member.file_size > max_unzipped_bytes:
            raise FileRejected(
                ResultCode.NOT_A_ZIP.value,
                f"{member.filename} unzips to {member.file_size:,} bytes, more than the "
                f"{max_unzipped_bytes:,} bytes accepted",
            )
        try:
            stream = archive.open(member)
        except (zipfile.BadZipFile, NotImplementedError, OSError) as exc:
            raise FileRejected(
                ResultCode.NOT_A_ZIP.value, f"{member.filename} cannot be unzipped: {exc}"
            ) from exc
        with stream:
            yield from lines_from(stream, on_error=f"{member.filename}: ")


def plain_lines(path: Path) -> Iterator[str]:
    with path.open("rb") as stream:
        yield from lines_from(stream)
