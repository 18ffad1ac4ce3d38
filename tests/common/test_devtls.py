"""meterhub_common.devtls: files, reuse rules, and real TLS handshakes on loopback."""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
import stat
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from meterhub_common import devtls
from meterhub_common.devtls import (
    DevCA,
    ServerCert,
    client_ssl_context,
    ensure_dev_ca,
    issue_server_cert,
    server_ssl_context,
)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def ca(tmp_path: Path) -> DevCA:
    return ensure_dev_ca(tmp_path / "tls")


@pytest.fixture
def server_cert(ca: DevCA, tmp_path: Path) -> ServerCert:
    return issue_server_cert(ca, tmp_path / "tls", "ingest")


def test_ca_files_and_contents(ca: DevCA) -> None:
    assert ca.cert_path.name == "ca.pem" and ca.key_path.name == "ca-key.pem"
    assert _mode(ca.key_path) == 0o600
    cert = ca.certificate
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == devtls.CA_NAME
    assert cert.issuer == cert.subject
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert isinstance(cert.public_key().curve, ec.SECP256R1)  # type: ignore[union-attr]
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.key_cert_sign
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert lifetime == timedelta(days=3650)
    cert.verify_directly_issued_by(cert)


def test_ca_is_reused_and_replaced_when_broken(ca: DevCA) -> None:
    again = ensure_dev_ca(ca.cert_path.parent)
    assert again.certificate.serial_number == ca.certificate.serial_number
    ca.key_path.chmod(0o644)
    assert ensure_dev_ca(ca.cert_path.parent).certificate == ca.certificate
    assert _mode(ca.key_path) == 0o600
    ca.key_path.unlink()
    replaced = ensure_dev_ca(ca.cert_path.parent)
    assert replaced.certificate.serial_number != ca.certificate.serial_number


def test_concurrent_callers_share_one_ca(tmp_path: Path) -> None:
    with ThreadPoolExecutor(8) as pool:
        cas = list(pool.map(lambda _: ensure_dev_ca(tmp_path / "tls"), range(8)))
    assert len({c.certificate.serial_number for c in cas}) == 1
    assert not [p for p in (tmp_path / "tls").iterdir() if p.name.endswith(".tmp")]


def test_server_cert_files_and_contents(ca: DevCA, server_cert: ServerCert) -> None:
    assert server_cert.cert_path.name == "ingest.pem"
    assert server_cert.key_path.name == "ingest-key.pem"
    assert _mode(server_cert.key_path) == 0o600
    chain = x509.load_pem_x509_certificates(server_cert.cert_path.read_bytes())
    assert chain == [server_cert.certificate, ca.certificate]
    cert = server_cert.certificate
    cert.verify_directly_issued_by(ca.certificate)
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["localhost"]
    assert sans.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    ]
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == timedelta(days=825)
    assert cert.not_valid_before_utc <= datetime.now(UTC)


def test_server_cert_reuse_rules(
    ca: DevCA, server_cert: ServerCert, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = server_cert.cert_path.parent
    serial = server_cert.certificate.serial_number
    # Same hosts in another order: reused.
    again = issue_server_cert(ca, directory, "ingest", ["::1", "localhost", "127.0.0.1"])
    assert again.certificate.serial_number == serial
    # Other hosts: re-issued.
    other = issue_server_cert(ca, directory, "ingest", ["localhost", "ingest.meterhub.test"])
    assert other.certificate.serial_number != serial
    # Expiring within 30 days: re-issued.
    monkeypatch.setattr(devtls, "SERVER_VALIDITY", timedelta(days=10))
    short = issue_server_cert(ca, directory, "ingest")
    monkeypatch.undo()
    renewed = issue_server_cert(ca, directory, "ingest")
    assert renewed.certificate.serial_number != short.certificate.serial_number
    # A new CA: re-issued by it.
    ca.cert_path.unlink()
    new_ca = ensure_dev_ca(directory)
    reissued = issue_server_cert(new_ca, directory, "ingest")
    reissued.certificate.verify_directly_issued_by(new_ca.certificate)


def test_bad_names_are_refused(ca: DevCA, tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        issue_server_cert(ca, tmp_path, "../escape")
    with pytest.raises(ValueError):
        issue_server_cert(ca, tmp_path, "ok", [])


# -- real handshakes ---------------------------------------------------------------------------


@pytest.fixture
async def tls_port(server_cert: ServerCert) -> AsyncIterator[int]:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await reader.readline())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(
        echo, "127.0.0.1", 0, ssl=server_ssl_context(server_cert), ssl_handshake_timeout=5
    )
    async with server:
        yield server.sockets[0].getsockname()[1]


async def _exchange(port: int, context: ssl.SSLContext, hostname: str) -> tuple[bytes, str]:
    async with asyncio.timeout(10):
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=context, server_hostname=hostname
        )
        try:
            version = str(writer.get_extra_info("ssl_object").version())
            writer.write(b"ping\n")
            await writer.drain()
            return await reader.readline(), version
        finally:
            writer.close()


@pytest.mark.asyncio
async def test_handshake_with_dev_ca(tls_port: int, ca: DevCA) -> None:
    context = client_ssl_context(ca.cert_path)
    assert await _exchange(tls_port, context, "localhost") == (b"ping\n", "TLSv1.3")
    # The IP SAN is enough on its own.
    assert (await _exchange(tls_port, context, "127.0.0.1"))[0] == b"ping\n"


@pytest.mark.asyncio
async def test_handshake_fails_without_ca_or_with_wrong_name(tls_port: int, ca: DevCA) -> None:
    with pytest.raises(ssl.SSLCertVerificationError):
        await _exchange(tls_port, ssl.create_default_context(), "localhost")
    with pytest.raises(ssl.SSLCertVerificationError):
        await _exchange(tls_port, client_ssl_context(ca.cert_path), "example.com")


@pytest.mark.asyncio
@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated:DeprecationWarning")
async def test_tls_1_1_client_is_refused(tls_port: int, ca: DevCA) -> None:
    def legacy_client(maximum: ssl.TLSVersion) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.load_verify_locations(ca.cert_path)
        # Security level 0, or OpenSSL 3 will not even offer TLS 1.1 from this side.
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
        context.minimum_version = ssl.TLSVersion.TLSv1_1
        context.maximum_version = maximum
        return context

    # The same client allowed TLS 1.2 gets through, so the refusal below is the version.
    assert await _exchange(tls_port, legacy_client(ssl.TLSVersion.TLSv1_2), "localhost") == (
        b"ping\n",
        "TLSv1.2",
    )
    # asyncio's server drops the connection without flushing OpenSSL's alert, so the client
    # sees either the protocol-version alert or a reset.
    with pytest.raises((ssl.SSLError, ConnectionResetError)):
        await _exchange(tls_port, legacy_client(ssl.TLSVersion.TLSv1_1), "localhost")
