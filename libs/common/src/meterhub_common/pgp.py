"""The one place that talks to gpg (through python-gnupg).

Ingest decrypts TDSP uploads with the repository's secret key, the FTPS publisher encrypts
daily files to each REP's public key, the usage API vets the public keys REPs register, and
tools make demo and test keys. Everything here is blocking (a gpg child process per call);
every method has an ``a``-prefixed twin that runs it in a worker thread for async code.

Failures the sender of the data or key can fix raise :class:`PgpError` with a ``code``;
failures of our own setup (gpg missing, agent not reachable, our passphrase wrong) raise
``RuntimeError``, so an operator mistake is never reported to a TDSP as a bad file.

Trust model: keys are pinned by fingerprint, never by the web of trust, so gpg runs with
``--trust-model always``. That still refuses expired, revoked and non-encryption keys.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import io
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import IO, Any, Literal, NoReturn

import gnupg

__all__ = ["KeyInfo", "Keyring", "PgpError", "PgpErrorCode", "normalize_fingerprint"]

PgpErrorCode = Literal[
    "not-encrypted", "not-decryptable", "wrong-recipient", "bad-signature", "bad-key"
]

# Every gpg call gets these. loopback: a passphrase-protected key without a passphrase must
# fail at once instead of starting a pinentry (a GUI one blocks forever on a desktop with
# DISPLAY set). No key lookups on the network, ever: every key we use was imported explicitly.
_NO_NETWORK = ["--no-auto-key-retrieve", "--auto-key-locate", "local"]
_GPG_OPTIONS = ["--pinentry-mode", "loopback", "--trust-model", "always", *_NO_NETWORK]
# Scanning leaves out --trust-model always: with it, a --dry-run import of an expired key in
# an empty home dies with "Fatal: can't open trustdb.gpg" (gpg 2.2.40).
_SCAN_OPTIONS = ["--no-autostart", *_NO_NETWORK]
# sockaddr_un.sun_path is 108 bytes with the NUL; gpg-agent also binds S.gpg-agent.browser.
_MAX_SOCKET_PATH = 107 - len(".browser")
_FPR_RE = re.compile(r"[0-9A-F]{40}(?:[0-9A-F]{24})?")
_UNUSABLE_VALIDITY = frozenset("erid")  # expired, revoked, invalid, disabled
# libgpg-error codes (low 16 bits) that mean our own key could not be unlocked.
_PASSPHRASE_ERRORS = frozenset({11, 99, 177})  # bad passphrase, canceled, no passphrase
_BAD_SIGNATURE_STATUSES = frozenset({"BADSIG", "ERRSIG", "EXPSIG", "EXPKEYSIG", "REVKEYSIG"})
# python-gnupg reads gpg's output in 16 KiB chunks by default; decrypted files can be large.
_COPY_CHUNK = 1 << 20


class PgpError(Exception):
    """Data or a key that cannot be accepted; ``code`` says why, ``detail`` says it to a person.

    - ``not-encrypted``: not OpenPGP data, or OpenPGP data that is not encrypted;
    - ``not-decryptable``: encrypted to our key but corrupted or truncated;
    - ``wrong-recipient``: encrypted only to keys we do not hold;
    - ``bad-signature``: a signature was required and is missing, bad, or by another key;
    - ``bad-key``: a key that is not a usable public encryption key (expired, revoked,
      sign-only, secret, garbage), also when encrypting to such a key.
    """

    def __init__(self, code: PgpErrorCode, detail: str) -> None:
        # Both in args, so the error survives pickling (process pools, job queues).
        super().__init__(code, detail)
        self.code: PgpErrorCode = code
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.code}: {self.detail}"


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """A vetted public key. ``expires`` is when it stops being usable for encryption."""

    fingerprint: str
    uids: tuple[str, ...]
    expires: datetime | None
    can_encrypt: bool


def normalize_fingerprint(fpr: str) -> str:
    """Upper-case hex without spaces; rejects key ids and user ids, which can be ambiguous."""
    value = fpr.replace(" ", "").upper()
    if not _FPR_RE.fullmatch(value):
        raise ValueError(f"not an OpenPGP fingerprint: {fpr!r}")
    return value


def _statuses(result: Any) -> list[tuple[str, str]]:
    # python-gnupg keeps only the last value of most status keywords; decisions here need
    # all of them (several ENC_TO, several signatures), so read gpg's status lines directly.
    found: list[tuple[str, str]] = []
    for line in str(getattr(result, "stderr", "") or "").splitlines():
        if line.startswith("[GNUPG:] "):
            keyword, _, value = line[9:].partition(" ")
            found.append((keyword, value.strip()))
    return found


def _values(statuses: list[tuple[str, str]], keyword: str) -> list[str]:
    return [value for key, value in statuses if key == keyword]


def _stderr_tail(result: Any) -> str:
    lines = [
        line
        for line in str(getattr(result, "stderr", "") or "").splitlines()
        if line and not line.startswith("[GNUPG:] ")
    ]
    return "; ".join(lines[-3:]) or f"gpg exit code {getattr(result, 'returncode', None)}"


def _parse_time(value: str) -> datetime | None:
    if not value or value == "unavailable":
        return None
    if "T" in value:
        return datetime.strptime(value, "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    return datetime.fromtimestamp(int(value), UTC)


def _decode_uid(uid: str) -> str:
    # gpg prints user ids as raw UTF-8; python-gnupg decodes its output as Latin-1.
    return uid.encode("latin-1", "replace").decode("utf-8", "replace")


def _check_line(name: str, value: str) -> str:
    # Values end up in a gpg parameter file, one per line: a newline would inject parameters.
    if any(ch in value for ch in "\r\n\0"):
        raise ValueError(f"{name} must be a single line")
    return value


_b64encode: Callable[[bytes], bytes]
try:  # SIMD base64, ~2.5x the standard library's
    from pybase64 import b64encode as _b64encode
except ImportError:  # pragma: no cover - depends on the environment
    import binascii

    def _b64encode(data: bytes) -> bytes:
        return binascii.b2a_base64(data, newline=False)


_crc24: Any
try:  # CRC24 at >10 GB/s: armoring here instead of in gpg then pays (see encrypt_stream)
    import anycrc

    _crc24 = anycrc.Model("CRC24-OPENPGP")
except ImportError:  # pragma: no cover - depends on the environment
    _crc24 = None

# gpg's binary output is read in multiples of 48 bytes: 48 bytes make one 64-character line.
_ARMOR_CHUNK = 48 * (1 << 14)


def _write_armored(src: IO[bytes], out: IO[bytes]) -> None:
    """ASCII armor (RFC 4880 section 6.2) of the OpenPGP message read from ``src``."""
    import numpy as np

    line = np.dtype([("text", "S64"), ("end", "S1")])
    crc = None
    out.write(b"-----BEGIN PGP MESSAGE-----\n\n")
    while chunk := src.read(_ARMOR_CHUNK):
        crc = _crc24.calc(chunk, crc)
        text = _b64encode(chunk)
        full = len(text) // 64
        # One numpy copy places the lines and their newlines; a Python loop over the lines
        # costs as much as the base64 itself.
        lines = np.empty(full, dtype=line)
        lines["text"] = np.frombuffer(text, dtype="S64", count=full)
        lines["end"] = b"\n"
        out.write(lines.tobytes())
        if len(text) > full * 64:  # only the last chunk has a short line
            out.write(text[full * 64 :] + b"\n")
    if crc is None:
        crc = _crc24.calc(b"")
    # gpg 2.2 needs the checksum line: without it, it reads the end line as base64.
    out.write(b"=" + _b64encode(crc.to_bytes(3, "big")) + b"\n")
    out.write(b"-----END PGP MESSAGE-----\n")


def _widen_pipe(pipe: IO[bytes]) -> None:
    """Give a pipe 1 MiB of buffer (Linux; 64 KiB by default): the writer and gpg then take
    turns 16x less often."""
    set_size = getattr(fcntl, "F_SETPIPE_SZ", None)
    if set_size is not None:
        with contextlib.suppress(OSError):  # above /proc/sys/fs/pipe-max-size: keep the default
            fcntl.fcntl(pipe.fileno(), set_size, 1 << 20)


class Keyring:
    """A GnuPG home directory and the operations Meterhub needs on it.

    Safe to share between threads and between processes on the same directory: each call is
    its own gpg process, gpg locks the keybox, and one gpg-agent per directory serves all.
    """

    def __init__(
        self,
        home: Path | str,
        *,
        gpg_binary: str = "gpg",
        s2k_count: int | None = None,
    ) -> None:
        """Open (creating it, mode 0700) the GnuPG home directory ``home``.

        ``s2k_count`` is for tests and demo data only: gpg-agent calibrates passphrase
        protection to cost ~100 ms of hashing per key (seconds per generated key on slow
        machines); a small fixed count makes protected test keys cheap.
        """
        self.home = Path(home).absolute()
        self.home.mkdir(mode=0o700, parents=True, exist_ok=True)
        # gpg warns about (and some versions refuse) a group- or world-readable home.
        self.home.chmod(0o700)
        self._gpg_binary = gpg_binary
        self._gpgconf = self._find_gpgconf(gpg_binary)
        self._check_socket_path()
        if s2k_count is not None:
            (self.home / "gpg-agent.conf").write_text(f"s2k-count {int(s2k_count)}\n")
        self._spool = self.home / "spool"
        self._spool.mkdir(mode=0o700, exist_ok=True)
        # The python-gnupg object, for the rare need this class does not cover.
        self.gpg: Any = gnupg.GPG(
            gpgbinary=gpg_binary, gnupghome=str(self.home), options=_GPG_OPTIONS
        )
        self.gpg.buffer_size = _COPY_CHUNK

    # -- lifecycle ---------------------------------------------------------------------------

    @staticmethod
    def _find_gpgconf(gpg_binary: str) -> str:
        gpg_path = shutil.which(gpg_binary)
        if gpg_path is None:
            raise RuntimeError(f"gpg binary {gpg_binary!r} not found")
        sibling = Path(gpg_path).with_name("gpgconf")
        return str(sibling) if sibling.exists() else "gpgconf"

    def _check_socket_path(self) -> None:
        # gpg-agent puts its sockets in the home directory unless /run/user/<uid> exists;
        # when the path is too long for a Unix socket, gpg only says "No agent running" at the
        # first secret-key operation. Fail here with the reason instead.
        out = subprocess.run(
            [self._gpgconf, "--homedir", str(self.home), "--list-dirs", "agent-socket"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        socket = out.replace("%3a", ":").replace("%25", "%")
        if len(os.fsencode(socket)) > _MAX_SOCKET_PATH:
            raise ValueError(
                f"GnuPG home {self.home} is too deep: its agent socket path {socket} exceeds "
                f"{_MAX_SOCKET_PATH} bytes; use a shorter directory"
            )

    def close(self) -> None:
        """Stop this directory's gpg-agent (it would otherwise outlive a temporary home)."""
        subprocess.run(
            [self._gpgconf, "--homedir", str(self.home), "--kill", "gpg-agent"],
            capture_output=True,
            check=False,
        )

    def __enter__(self) -> Keyring:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- keys --------------------------------------------------------------------------------

    def generate_key(
        self, name: str, email: str, *, passphrase: str | None = None, expire: str = "0"
    ) -> str:
        """Make an ed25519 signing key with a cv25519 encryption subkey; returns its fingerprint.

        ``expire`` is gpg's Expire-Date: "0" (never), "1y", "30d", or an ISO date.
        Elliptic-curve keys generate in milliseconds; RSA 3072 takes seconds.
        """
        params: dict[str, Any] = {
            "key_type": "EDDSA",
            "key_curve": "ed25519",
            "key_usage": "sign",
            "subkey_type": "ECDH",
            "subkey_curve": "cv25519",
            "subkey_usage": "encrypt",
            "name_real": _check_line("name", name),
            "name_email": _check_line("email", email),
            "expire_date": _check_line("expire", expire),
        }
        if passphrase is None:
            params["no_protection"] = True
        else:
            params["passphrase"] = _check_line("passphrase", passphrase)
        spec = str(self.gpg.gen_key_input(**params))
        # Encoded here because python-gnupg would encode as Latin-1 and gpg reads UTF-8.
        result = self.gpg.gen_key(spec.encode("utf-8"))
        fingerprint = str(result.fingerprint or "")
        if not fingerprint:
            raise RuntimeError(f"gpg key generation failed: {_stderr_tail(result)}")
        return fingerprint

    def export_public(self, fpr: str) -> str:
        """The armored public key; ``KeyError`` if the keyring does not hold it."""
        fpr = normalize_fingerprint(fpr)
        armored = str(self.gpg.export_keys(fpr, armor=True))
        if "BEGIN PGP PUBLIC KEY BLOCK" not in armored:
            raise KeyError(fpr)
        return armored

    def export_secret(self, fpr: str, passphrase: str | None) -> str:
        """The armored secret key, still protected by its passphrase (None if it has none)."""
        fpr = normalize_fingerprint(fpr)
        armored = str(
            self.gpg.export_keys(
                fpr,
                secret=True,
                armor=True,
                passphrase=passphrase,
                expect_passphrase=passphrase is not None,
            )
        )
        if "BEGIN PGP PRIVATE KEY BLOCK" not in armored:
            if self.has_key(fpr, secret=True):
                raise RuntimeError(f"cannot export {fpr}: passphrase missing or wrong")
            raise KeyError(fpr)
        return armored

    def import_keys(self, armored: str, *, passphrase: str | None = None) -> list[str]:
        """Import public and/or secret keys as they are; returns the fingerprints imported.

        No vetting: use :meth:`inspect_public_key` first for keys that come from outside.
        A bare revocation certificate imports no key and returns an empty list.
        """
        result = self.gpg.import_keys(armored.encode("utf-8"), passphrase=passphrase)
        fingerprints = list(dict.fromkeys(str(f) for f in result.fingerprints))
        if not fingerprints and not result.n_revoc:
            raise PgpError("bad-key", "no OpenPGP key could be imported from the data")
        return fingerprints

    def has_key(self, fpr: str, *, secret: bool = False) -> bool:
        fpr = normalize_fingerprint(fpr)
        return fpr in {str(f) for f in self.gpg.list_keys(secret=secret, keys=[fpr]).fingerprints}

    def inspect_public_key(self, armored: str) -> KeyInfo:
        """Vet one armored public key without keeping it.

        Raises ``PgpError("bad-key")`` unless the text is exactly one public key that is not
        expired or revoked and has a usable encryption (sub)key.
        """
        if "PRIVATE KEY BLOCK" in armored:
            raise PgpError("bad-key", "this is a secret key; send the public key only")
        if "-----BEGIN PGP PUBLIC KEY BLOCK-----" not in armored:
            raise PgpError("bad-key", "not an ASCII-armored OpenPGP public key")
        # A scratch home: --dry-run keeps nothing, but the scan must not see our own keys,
        # and --no-autostart keeps a stray secret packet from ever reaching an agent.
        with tempfile.TemporaryDirectory(prefix="mh-gpg-") as scratch:
            scanner = gnupg.GPG(
                gpgbinary=self._gpg_binary,
                gnupghome=scratch,
                options=_SCAN_OPTIONS,
            )
            keys = scanner.scan_keys_mem(armored.encode("utf-8"))
        if len(keys) != 1:
            raise PgpError("bad-key", f"expected exactly one key, found {len(keys)}")
        key: dict[str, Any] = keys[0]
        if key.get("type") != "pub":
            raise PgpError("bad-key", "not a public key")
        fingerprint = str(key.get("fingerprint", ""))
        validity = str(key.get("trust", ""))
        primary_expires = _parse_time(str(key.get("expires", "")))
        now = datetime.now(UTC)
        if validity == "r":
            raise PgpError("bad-key", f"key {fingerprint} is revoked")
        if validity == "e" or (primary_expires is not None and primary_expires <= now):
            raise PgpError("bad-key", f"key {fingerprint} has expired")
        if validity in _UNUSABLE_VALIDITY:
            raise PgpError("bad-key", f"key {fingerprint} is not valid")
        # Upper-case letters in the primary's capability field are what gpg will actually use
        # for the whole key (it already discounts expired and revoked subkeys).
        can_encrypt = "E" in str(key.get("cap", ""))
        if not can_encrypt:
            raise PgpError("bad-key", f"key {fingerprint} has no usable encryption key")
        return KeyInfo(
            fingerprint=fingerprint,
            uids=tuple(_decode_uid(str(uid)) for uid in key.get("uids", [])),
            expires=self._encryption_expiry(key, primary_expires, now),
            can_encrypt=can_encrypt,
        )

    @staticmethod
    def _encryption_expiry(
        key: dict[str, Any], primary_expires: datetime | None, now: datetime
    ) -> datetime | None:
        # The key stops being useful for encryption when its last usable encryption key expires,
        # or when the primary does, whichever is first.
        ends: list[datetime | None] = []
        if "e" in str(key.get("cap", "")).replace("E", ""):
            ends.append(primary_expires)
        for info in (key.get("subkey_info") or {}).values():
            expires = _parse_time(str(info.get("expires", "")))
            usable = str(info.get("trust", "")) not in _UNUSABLE_VALIDITY
            if "e" in str(info.get("cap", "")) and usable and (expires is None or expires > now):
                ends.append(expires)
        last = None if not ends or None in ends else max(e for e in ends if e is not None)
        candidates = [e for e in (last, primary_expires) if e is not None]
        return min(candidates) if candidates else None

    # -- encryption --------------------------------------------------------------------------

    def encrypt(
        self,
        data: bytes,
        recipient_fpr: str,
        *,
        armor: bool = True,
        sign_with: str | None = None,
        passphrase: str | None = None,
    ) -> bytes:
        """Encrypt ``data`` to one pinned recipient, optionally signed with our key."""
        with self._spooled(data) as src, self._spool_path() as dst:
            self.encrypt_file(
                src, dst, recipient_fpr, armor=armor, sign_with=sign_with, passphrase=passphrase
            )
            return dst.read_bytes()

    def encrypt_file(
        self,
        src_path: Path | str,
        dst_path: Path | str,
        recipient_fpr: str,
        *,
        armor: bool = True,
        sign_with: str | None = None,
        passphrase: str | None = None,
    ) -> None:
        """Encrypt a file of any size; ``dst_path`` appears complete or not at all.

        gpg reads the file itself (no copying through Python), and skips its own compression
        when the input already is a zip or gzip file.
        """
        recipient = normalize_fingerprint(recipient_fpr)
        signer = normalize_fingerprint(sign_with) if sign_with else None
        src = Path(src_path).absolute()
        with self._atomic_output(Path(dst_path)) as tmp:
            result = self.gpg.encrypt_file(
                io.BytesIO(b""),
                [recipient],
                sign=signer,
                passphrase=passphrase,
                armor=armor,
                output=str(tmp),
                extra_args=["--", str(src)],
            )
            statuses = _statuses(result)
            if result.ok and result.returncode == 0:
                return
            self._raise_encrypt_failure(result, statuses, recipient, signer)

    @contextlib.contextmanager
    def encrypt_stream(self, recipient_fpr: str, dst_path: Path | str) -> Iterator[IO[bytes]]:
        """Encrypt everything written to the yielded pipe to one pinned recipient, ASCII-armored,
        into ``dst_path``, which appears complete or not at all (only if the block ends without
        an exception and gpg succeeded).

        For data made on the fly (the publisher's zips): no temporary plaintext file, and gpg
        encrypts while the data is still being made. gpg cannot tell piped input is already
        compressed, so its compression is turned off: otherwise it deflates the zip again, for
        6x the CPU and nothing gained. With ``anycrc`` installed gpg writes binary and the
        armor is added here once gpg is done: gpg's own armor costs ~5 ns per byte, twice its
        encryption, and base64 + CRC24 here ~1. The binary message goes through a hidden
        file, not a pipe read by a second thread: that thread fought the writer for the GIL.
        """
        recipient = normalize_fingerprint(recipient_fpr)
        armor_here = _crc24 is not None
        with self._atomic_output(Path(dst_path)) as tmp:
            # Hidden and ending in .part like ``tmp``: cleaned up the same way after a crash.
            binary = tmp.with_suffix(".gpg.part") if armor_here else tmp
            try:
                with (
                    open(binary, "wb") as out,
                    self._gpg_encrypting(recipient, out, armor=not armor_here) as pipe,
                ):
                    yield pipe
                if armor_here:
                    with open(binary, "rb") as src, open(tmp, "wb") as out:
                        _write_armored(src, out)
            finally:
                if armor_here:
                    binary.unlink(missing_ok=True)

    @contextlib.contextmanager
    def _gpg_encrypting(
        self, recipient: str, out: IO[bytes], *, armor: bool
    ) -> Iterator[IO[bytes]]:
        """A gpg process encrypting its stdin (yielded) into ``out``; raises if it failed."""
        command = [
            self._gpg_binary, "--status-fd", "2", "--no-tty", "--no-verbose", "--batch",
            "--homedir", str(self.home), *_GPG_OPTIONS, "--compress-algo", "none",
            *(("--armor",) if armor else ()), "--recipient", recipient,
            "--output", "-", "--encrypt",
        ]  # fmt: skip
        proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=out, stderr=subprocess.PIPE)
        assert proc.stdin is not None and proc.stderr is not None
        _widen_pipe(proc.stdin)
        errors = proc.stderr
        stderr: list[bytes] = []
        reader = threading.Thread(target=lambda: stderr.append(errors.read()), daemon=True)
        reader.start()
        try:
            try:
                yield proc.stdin
            finally:
                with contextlib.suppress(BrokenPipeError):
                    proc.stdin.close()
        except BrokenPipeError:
            # gpg stopped reading (a bad key, say): its status says why, below.
            pass
        except BaseException:
            proc.kill()
            raise
        finally:
            returncode = proc.wait()
            reader.join()
        result = SimpleNamespace(
            stderr=b"".join(stderr).decode("utf-8", "replace"), returncode=returncode
        )
        statuses = _statuses(result)
        if returncode != 0 or not _values(statuses, "END_ENCRYPTION"):
            self._raise_encrypt_failure(result, statuses, recipient, None)

    @classmethod
    def _raise_encrypt_failure(
        cls, result: Any, statuses: list[tuple[str, str]], recipient: str, signer: str | None
    ) -> NoReturn:
        for value in _values(statuses, "INV_RECP"):
            reason = value.split(" ", 1)[0]
            why = "is not in the keyring" if reason == "1" else "is expired, revoked or sign-only"
            raise PgpError("bad-key", f"recipient key {recipient} {why}")
        if signer and (_values(statuses, "INV_SGNR") or cls._passphrase_failed(statuses)):
            raise RuntimeError(f"cannot sign with {signer}: {_stderr_tail(result)}")
        raise RuntimeError(f"gpg encryption failed: {_stderr_tail(result)}")

    # -- decryption --------------------------------------------------------------------------

    def decrypt(
        self,
        data: bytes,
        *,
        passphrase: str | None = None,
        expected_signer: str | None = None,
    ) -> bytes:
        """Decrypt ``data``; with ``expected_signer`` also require that key's good signature."""
        # Through a file, not a pipe: gpg may stop reading at a fatal problem, and python-gnupg
        # then raises BrokenPipeError and loses gpg's status output (it does when encrypting
        # to an unusable key).
        with self._spooled(data) as src:
            signer = normalize_fingerprint(expected_signer) if expected_signer else None
            result = self.gpg.decrypt_file(
                io.BytesIO(b""), passphrase=passphrase, extra_args=["--", str(src)]
            )
            self._check_decrypt(result, signer)
            return bytes(result.data)

    def decrypt_file(
        self,
        src_path: Path | str,
        dst_path: Path | str,
        *,
        passphrase: str | None = None,
        expected_signer: str | None = None,
    ) -> None:
        """Decrypt a file of any size; ``dst_path`` appears only when every check passed."""
        signer = normalize_fingerprint(expected_signer) if expected_signer else None
        src = Path(src_path).absolute()
        with self._atomic_output(Path(dst_path)) as tmp:
            result = self.gpg.decrypt_file(
                io.BytesIO(b""),
                passphrase=passphrase,
                output=str(tmp),
                extra_args=["--", str(src)],
            )
            self._check_decrypt(result, signer)

    @staticmethod
    def _passphrase_failed(statuses: list[tuple[str, str]]) -> bool:
        for value in _values(statuses, "ERROR"):
            parts = value.split()
            if (
                len(parts) >= 2
                and parts[1].isdigit()
                and int(parts[1]) & 0xFFFF in _PASSPHRASE_ERRORS
            ):
                return True
        return bool(_values(statuses, "BAD_PASSPHRASE") or _values(statuses, "MISSING_PASSPHRASE"))

    def _check_decrypt(self, result: Any, expected_signer: str | None) -> None:
        statuses = _statuses(result)
        keywords = {key for key, _ in statuses}
        enc_to = [v.split(" ", 1)[0] for v in _values(statuses, "ENC_TO")]
        decrypted = (
            "DECRYPTION_OKAY" in keywords
            and not keywords & {"DECRYPTION_FAILED", "BADMDC"}
            # Symmetric-only data is not "encrypted to us"; refuse it even if a passphrase
            # we hold for our own key happens to open it.
            and bool(enc_to)
        )
        if not decrypted:
            self._raise_decrypt_failure(result, statuses, keywords, enc_to)
        if expected_signer is not None:
            self._check_signature(statuses, expected_signer)

    def _raise_decrypt_failure(
        self,
        result: Any,
        statuses: list[tuple[str, str]],
        keywords: set[str],
        enc_to: list[str],
    ) -> NoReturn:
        symmetric = bool(keywords & {"NEED_PASSPHRASE_SYM", "SYMKEY_ENC"})
        if not enc_to:
            if symmetric:
                raise PgpError(
                    "wrong-recipient", "encrypted with a passphrase, not to our public key"
                )
            raise PgpError("not-encrypted", "the data is not OpenPGP-encrypted")
        missing = {v.split(" ", 1)[0] for v in _values(statuses, "NO_SECKEY")}
        if set(enc_to) <= missing:
            raise PgpError(
                "wrong-recipient",
                f"encrypted to key id(s) {', '.join(enc_to)}, none of which is ours",
            )
        if self._passphrase_failed(statuses) or (
            "NEED_PASSPHRASE" in keywords and "BEGIN_DECRYPTION" not in keywords
        ):
            raise RuntimeError(
                f"our secret key could not be unlocked (passphrase missing or wrong): "
                f"{_stderr_tail(result)}"
            )
        raise PgpError(
            "not-decryptable", "the encrypted data is corrupted or truncated and was discarded"
        )

    @staticmethod
    def _check_signature(statuses: list[tuple[str, str]], expected: str) -> None:
        keywords = {key for key, _ in statuses}
        if (
            "NEWSIG" not in keywords
            and "GOODSIG" not in keywords
            and not (keywords & _BAD_SIGNATURE_STATUSES)
        ):
            raise PgpError("bad-signature", f"the data is not signed; expected {expected}")
        if keywords & _BAD_SIGNATURE_STATUSES or "GOODSIG" not in keywords:
            raise PgpError(
                "bad-signature", f"a signature is bad or its key is unknown; expected {expected}"
            )
        signers: set[str] = set()
        for value in _values(statuses, "VALIDSIG"):
            parts = value.split()
            signers.add(parts[0])  # the signing (sub)key
            if len(parts) >= 10:
                signers.add(parts[9])  # its primary key
        if expected not in signers:
            raise PgpError(
                "bad-signature",
                f"signed by {', '.join(sorted(signers)) or 'an unknown key'}, expected {expected}",
            )

    # -- temporary files ---------------------------------------------------------------------

    @contextlib.contextmanager
    def _spool_path(self) -> Iterator[Path]:
        path = self._spool / secrets.token_hex(8)
        try:
            yield path
        finally:
            path.unlink(missing_ok=True)

    @contextlib.contextmanager
    def _spooled(self, data: bytes) -> Iterator[Path]:
        # The spool lives inside the 0700 home so plaintext never sits in a shared /tmp.
        with self._spool_path() as path:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            yield path

    @staticmethod
    @contextlib.contextmanager
    def _atomic_output(dst: Path) -> Iterator[Path]:
        # gpg may leave partial output behind when it fails half-way (and writes plaintext
        # before the signature is checked): work on a hidden sibling, rename only on success.
        tmp = dst.with_name(f".{dst.name}.{secrets.token_hex(6)}.part")
        try:
            yield tmp
            if not tmp.exists():
                raise RuntimeError(f"gpg produced no output for {dst}")
            tmp.replace(dst)
        finally:
            tmp.unlink(missing_ok=True)

    # -- async twins -------------------------------------------------------------------------

    async def agenerate_key(
        self, name: str, email: str, *, passphrase: str | None = None, expire: str = "0"
    ) -> str:
        return await asyncio.to_thread(
            self.generate_key, name, email, passphrase=passphrase, expire=expire
        )

    async def aexport_public(self, fpr: str) -> str:
        return await asyncio.to_thread(self.export_public, fpr)

    async def aimport_keys(self, armored: str, *, passphrase: str | None = None) -> list[str]:
        return await asyncio.to_thread(self.import_keys, armored, passphrase=passphrase)

    async def ainspect_public_key(self, armored: str) -> KeyInfo:
        return await asyncio.to_thread(self.inspect_public_key, armored)

    async def aencrypt(
        self,
        data: bytes,
        recipient_fpr: str,
        *,
        armor: bool = True,
        sign_with: str | None = None,
        passphrase: str | None = None,
    ) -> bytes:
        return await asyncio.to_thread(
            self.encrypt,
            data,
            recipient_fpr,
            armor=armor,
            sign_with=sign_with,
            passphrase=passphrase,
        )

    async def aencrypt_file(
        self,
        src_path: Path | str,
        dst_path: Path | str,
        recipient_fpr: str,
        *,
        armor: bool = True,
        sign_with: str | None = None,
        passphrase: str | None = None,
    ) -> None:
        await asyncio.to_thread(
            self.encrypt_file,
            src_path,
            dst_path,
            recipient_fpr,
            armor=armor,
            sign_with=sign_with,
            passphrase=passphrase,
        )

    async def adecrypt(
        self,
        data: bytes,
        *,
        passphrase: str | None = None,
        expected_signer: str | None = None,
    ) -> bytes:
        return await asyncio.to_thread(
            self.decrypt, data, passphrase=passphrase, expected_signer=expected_signer
        )

    async def adecrypt_file(
        self,
        src_path: Path | str,
        dst_path: Path | str,
        *,
        passphrase: str | None = None,
        expected_signer: str | None = None,
    ) -> None:
        await asyncio.to_thread(
            self.decrypt_file,
            src_path,
            dst_path,
            passphrase=passphrase,
            expected_signer=expected_signer,
        )
