"""Development CA and server certificates, so every local endpoint speaks TLS from first run.

``ensure_dev_ca`` makes one CA per checkout and reuses it forever after, so a browser or
``curl --cacert`` that trusts it once keeps working; ``issue_server_cert`` makes (or reuses) a
certificate for a service from that CA. Both are safe to call from several processes starting
at once: writers take a lock on the directory and files appear atomically.

Not for production: keys are written unencrypted (mode 0600).
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import os
import re
import ssl
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeAlias

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "DEFAULT_HOSTS",
    "DevCA",
    "ServerCert",
    "client_ssl_context",
    "ensure_dev_ca",
    "issue_server_cert",
    "server_ssl_context",
]

CA_NAME = "Meterhub Development CA"
DEFAULT_HOSTS: tuple[str, ...] = ("localhost", "127.0.0.1", "::1")
CA_VALIDITY = timedelta(days=3650)
# Apple platforms reject TLS server certificates valid for longer than 825 days.
SERVER_VALIDITY = timedelta(days=825)
RENEW_BEFORE = timedelta(days=30)
# Backdated a little so a machine whose clock lags the one that issued still accepts it.
_BACKDATE = timedelta(hours=1)
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")

_SanValue: TypeAlias = x509.DNSName | x509.IPAddress


@dataclass(frozen=True)
class DevCA:
    cert_path: Path
    key_path: Path
    certificate: x509.Certificate
    private_key: ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class ServerCert:
    cert_path: Path  # the server certificate followed by the CA certificate
    key_path: Path
    certificate: x509.Certificate


def ensure_dev_ca(directory: Path) -> DevCA:
    """Load ``ca.pem``/``ca-key.pem`` from ``directory``, creating them the first time.

    A CA that is incomplete, mismatched or expiring within 30 days is replaced (its server
    certificates are then re-issued by :func:`issue_server_cert`).
    """
    directory = Path(directory)
    cert_path, key_path = directory / "ca.pem", directory / "ca-key.pem"
    with _locked(directory):
        existing = _load_ca(cert_path, key_path)
        if existing is not None:
            return existing
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Meterhub"),
                x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME),
            ]
        )
        not_before = datetime.now(UTC) - _BACKDATE
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_before + CA_VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA256())
        )
        # Key first: a crash in between leaves a key without a certificate, which is
        # replaced on the next run, never a certificate whose key is missing.
        _write_atomic(key_path, _key_pem(key), mode=0o600)
        _write_atomic(cert_path, certificate.public_bytes(serialization.Encoding.PEM), 0o644)
        return DevCA(cert_path, key_path, certificate, key)


def issue_server_cert(
    ca: DevCA, directory: Path, name: str, hosts: Sequence[str] = DEFAULT_HOSTS
) -> ServerCert:
    """``<name>.pem`` (chain) and ``<name>-key.pem`` for ``hosts``, reused when still good.

    Reused only if issued by ``ca``, valid for more than 30 days and for exactly ``hosts``.
    IP literals become IP SANs, everything else DNS SANs.
    """
    if not _NAME_RE.fullmatch(name):
        raise ValueError(f"certificate name must be a plain file name, got {name!r}")
    if not hosts:
        raise ValueError("at least one host name or address is required")
    directory = Path(directory)
    cert_path, key_path = directory / f"{name}.pem", directory / f"{name}-key.pem"
    sans = [_san(host) for host in hosts]
    with _locked(directory):
        existing = _load_server_cert(ca, cert_path, key_path, sans)
        if existing is not None:
            return existing
        key = ec.generate_private_key(ec.SECP256R1())
        not_before = datetime.now(UTC) - _BACKDATE
        ca_ski = ca.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_before + SERVER_VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski.value),
                False,
            )
            .sign(ca.private_key, hashes.SHA256())
        )
        chain = certificate.public_bytes(serialization.Encoding.PEM) + ca.certificate.public_bytes(
            serialization.Encoding.PEM
        )
        _write_atomic(key_path, _key_pem(key), mode=0o600)
        _write_atomic(cert_path, chain, mode=0o644)
        return ServerCert(cert_path, key_path, certificate)


def server_ssl_context(cert: ServerCert) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert.cert_path, cert.key_path)
    return context


def client_ssl_context(ca_path: Path) -> ssl.SSLContext:
    """Verifies the server's chain against ``ca_path`` only, and its host name."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca_path))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


# -- helpers ------------------------------------------------------------------------------------


def _san(host: str) -> _SanValue:
    try:
        return x509.IPAddress(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return x509.DNSName(host.lower())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _valid_long_enough(certificate: x509.Certificate) -> bool:
    now = datetime.now(UTC)
    return certificate.not_valid_before_utc <= now < certificate.not_valid_after_utc - RENEW_BEFORE


def _load_pair(
    cert_path: Path, key_path: Path
) -> tuple[list[x509.Certificate], ec.EllipticCurvePrivateKey] | None:
    if not (cert_path.is_file() and key_path.is_file()):
        return None
    try:
        certificates = x509.load_pem_x509_certificates(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except ValueError:
        return None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        return None
    if certificates[0].public_key() != key.public_key():
        return None
    # Someone may have copied the files around with a looser umask.
    key_path.chmod(0o600)
    return certificates, key


def _load_ca(cert_path: Path, key_path: Path) -> DevCA | None:
    pair = _load_pair(cert_path, key_path)
    if pair is None:
        return None
    (certificate, *_), key = pair
    try:
        is_ca = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return None
    if not is_ca or not _valid_long_enough(certificate):
        return None
    return DevCA(cert_path, key_path, certificate, key)


def _load_server_cert(
    ca: DevCA, cert_path: Path, key_path: Path, sans: list[_SanValue]
) -> ServerCert | None:
    pair = _load_pair(cert_path, key_path)
    if pair is None:
        return None
    (certificate, *_), _key = pair
    try:
        certificate.verify_directly_issued_by(ca.certificate)
        present = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except (ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
        return None
    if set(present.value) != set(sans) or not _valid_long_enough(certificate):
        return None
    return ServerCert(cert_path, key_path, certificate)


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    # Services of the local stack start together and may all ask for the same files.
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    with open(directory / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, mode)  # os.open's mode is filtered by the umask
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
