"""The FTPS server's guarantees, probed with stdlib ftplib as a hostile or careless client:
TLS everywhere (1.2+), no plain FTP, a REP sees only its own folder whatever path it tries,
wrong passwords are refused and lock the account, the allow-list is enforced."""

from __future__ import annotations

import asyncio
import contextlib
import ftplib
import io
import os
import socket
import ssl
import threading
from typing import Any

import pytest

from meterhub_common.devtls import client_ssl_context


async def _rep_with_file(seeder: Any, name: str = "IntervalMeterUsage_test.zip.asc") -> Any:
    rep = await seeder.rep()
    rep.folder.mkdir(parents=True, exist_ok=True)
    (rep.folder / name).write_bytes(b"secret of " + rep.duns.encode())
    return rep


def _plain_ftp(port: int) -> ftplib.FTP:
    ftp = ftplib.FTP(timeout=10)  # noqa: S321 (the point is that plain FTP is refused)
    ftp.connect("127.0.0.1", port)
    return ftp


async def test_plain_ftp_login_is_refused(service: Any, seeder: Any) -> None:
    rep = await _rep_with_file(seeder)

    def attempt() -> str:
        ftp = _plain_ftp(service.port)
        try:
            with pytest.raises(ftplib.error_perm) as refused:
                ftp.login(rep.duns, "correct horse battery staple")
            return str(refused.value)
        finally:
            ftp.close()

    message = await asyncio.to_thread(attempt)
    assert message.startswith("550") and "SSL/TLS required" in message


async def test_data_channel_must_be_protected(service: Any, seeder: Any, client: Any) -> None:
    rep = await _rep_with_file(seeder)

    def attempt() -> tuple[str, str]:
        ftp = ftplib.FTP_TLS(context=client_ssl_context(service.ca_file), timeout=10)  # noqa: S321
        ftp.connect("127.0.0.1", service.port)
        ftp.login(rep.duns, "correct horse battery staple")  # AUTH TLS, no PROT P
        try:
            with pytest.raises(ftplib.error_perm) as no_prot:
                ftp.nlst()
            with pytest.raises(ftplib.error_perm) as clear:
                ftp.prot_c()
            return str(no_prot.value), str(clear.value)
        finally:
            ftp.close()

    no_prot, clear = await asyncio.to_thread(attempt)
    assert "SSL/TLS required on the data channel" in no_prot
    assert clear.startswith("536")


async def test_tls_below_1_2_is_refused(service: Any) -> None:
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.check_hostname = False
    old.verify_mode = ssl.CERT_NONE
    old.set_ciphers("DEFAULT:@SECLEVEL=0")
    old.minimum_version = ssl.TLSVersion.TLSv1
    old.maximum_version = ssl.TLSVersion.TLSv1_1

    def attempt() -> None:
        ftp = ftplib.FTP_TLS(context=old, timeout=10)  # noqa: S321
        ftp.connect("127.0.0.1", service.port)
        try:
            ftp.auth()
        finally:
            ftp.close()

    with pytest.raises((ssl.SSLError, ConnectionError, EOFError)):
        await asyncio.to_thread(attempt)

    # The same server speaks TLS 1.2 (the floor) to a client that asks for exactly that.
    exact = client_ssl_context(service.ca_file)
    exact.maximum_version = ssl.TLSVersion.TLSv1_2

    def negotiate() -> str:
        ftp = ftplib.FTP_TLS(context=exact, timeout=10)  # noqa: S321
        ftp.connect("127.0.0.1", service.port)
        ftp.auth()
        version = ftp.sock.version()
        ftp.close()
        return str(version)

    assert await asyncio.to_thread(negotiate) == "TLSv1.2"


def _handshake(server_context: Any, client_context: ssl.SSLContext) -> str:
    """One TLS handshake over a socket pair: our pyOpenSSL server side, stdlib client."""
    from OpenSSL import SSL

    left, right = socket.socketpair()
    outcome: dict[str, str] = {}

    def serve() -> None:
        connection = SSL.Connection(server_context, left)
        connection.set_accept_state()
        try:
            connection.do_handshake()
            outcome["server"] = connection.get_protocol_version_name()
        except SSL.Error as exc:
            outcome["server"] = f"refused: {exc}"
        finally:
            left.close()

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        with client_context.wrap_socket(right) as tls:
            outcome["client"] = str(tls.version())
    except (ssl.SSLError, OSError) as exc:
        outcome["client"] = f"refused: {exc}"
    finally:
        right.close()
        thread.join(10)
    return outcome["client"]


def test_minimum_tls_version_holds_even_if_security_level_is_lowered(service: Any) -> None:
    # OpenSSL 3 already refuses TLS < 1.2 at its default security level; an operator who
    # lowers it (for an old cipher) must still not re-enable TLS 1.0/1.1.
    settings = service.settings
    from meterhub_ftps_publisher.ftps.server import tls_context

    cert = settings.dev_ca_dir / "ftps-publisher.pem"
    key = settings.dev_ca_dir / "ftps-publisher-key.pem"
    lowered = tls_context(cert, key)
    lowered.set_cipher_list(b"DEFAULT:@SECLEVEL=0")
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.check_hostname = False
    old.verify_mode = ssl.CERT_NONE
    old.set_ciphers("DEFAULT:@SECLEVEL=0")
    old.minimum_version = ssl.TLSVersion.TLSv1
    old.maximum_version = ssl.TLSVersion.TLSv1_1
    assert _handshake(lowered, old).startswith("refused")
    modern = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    modern.check_hostname = False
    modern.verify_mode = ssl.CERT_NONE
    assert _handshake(lowered, modern) in ("TLSv1.2", "TLSv1.3")


async def test_rep_cannot_reach_another_reps_files(service: Any, seeder: Any, client: Any) -> None:
    rep_a = await _rep_with_file(seeder)
    rep_b = await _rep_with_file(seeder, "IntervalMeterUsageB.zip.asc")
    (rep_a.folder / ".IntervalMeterUsage_partial.zip.asc.abc.part").write_bytes(b"partial")
    # A symlink planted in A's folder that points at B's file must not leak it.
    os.symlink(rep_b.folder / "IntervalMeterUsageB.zip.asc", rep_a.folder / "link.zip.asc")
    b_file = rep_b.folder / "IntervalMeterUsageB.zip.asc"

    def probe() -> dict[str, Any]:
        seen: dict[str, Any] = {}
        with client.login(rep_a.duns) as ftp:
            seen["nlst"] = sorted(ftp.nlst())
            seen["list"] = []
            ftp.retrlines("LIST", seen["list"].append)
            seen["pwd"] = ftp.pwd()
            seen["own"] = client.download(ftp, "IntervalMeterUsage_test.zip.asc")
            refused = {}
            for path in [
                f"../{rep_b.duns}/IntervalMeterUsageB.zip.asc",
                f"/../{rep_b.duns}/IntervalMeterUsageB.zip.asc",
                f"/{rep_b.duns}/IntervalMeterUsageB.zip.asc",
                str(b_file),
                "link.zip.asc",
                "IntervalMeterUsageB.zip.asc",
                ".IntervalMeterUsage_partial.zip.asc.abc.part",
                "../../../../etc/passwd",
            ]:
                try:
                    client.download(ftp, path)
                    refused[path] = False
                except ftplib.error_perm:
                    refused[path] = True
            seen["refused"] = refused
            listings = {}
            for path in ["..", f"../{rep_b.duns}", "/..", str(rep_b.folder)]:
                try:
                    listings[path] = ftp.nlst(path)
                except ftplib.error_perm:
                    listings[path] = None
            seen["listings"] = listings
            for target in ["..", f"../{rep_b.duns}", str(rep_b.folder)]:
                with contextlib.suppress(ftplib.error_perm):
                    ftp.cwd(target)
                seen.setdefault("pwds", []).append(ftp.pwd())
            for command in ["STOR upload.txt", "MKD sub", "RNFR IntervalMeterUsage_test.zip.asc"]:
                with pytest.raises(ftplib.error_perm):
                    if command.startswith("STOR"):
                        ftp.storbinary(command, io.BytesIO(b"x"))
                    else:
                        ftp.sendcmd(command)
        return seen

    seen = await asyncio.to_thread(probe)
    assert seen["nlst"] == ["IntervalMeterUsage_test.zip.asc"]
    assert len(seen["list"]) == 1 and "IntervalMeterUsage_test.zip.asc" in seen["list"][0]
    assert seen["pwd"] == "/"
    assert seen["own"] == b"secret of " + rep_a.duns.encode()
    assert all(seen["refused"].values()), seen["refused"]
    # ".." from the jail root is the jail root itself: still only A's file.
    for path, listing in seen["listings"].items():
        assert listing in (None, [], ["IntervalMeterUsage_test.zip.asc"]), (path, listing)
        assert not listing or all("IntervalMeterUsageB" not in n for n in listing)
    assert set(seen["pwds"]) == {"/"}
    assert b_file.exists() and not (rep_a.folder / "upload.txt").exists()


async def test_rep_can_delete_its_own_file(service: Any, seeder: Any, client: Any) -> None:
    rep = await _rep_with_file(seeder)
    (rep.folder / "Keep.zip.asc").write_bytes(b"keep")

    def delete() -> list[str]:
        with client.login(rep.duns) as ftp:
            ftp.delete("IntervalMeterUsage_test.zip.asc")
            # Not an empty listing: stdlib ftplib over TLS 1.3 may fail to unwrap an empty
            # data connection (CPython bpo-34391), which says nothing about the server.
            return ftp.nlst()

    assert await asyncio.to_thread(delete) == ["Keep.zip.asc"]
    assert not (rep.folder / "IntervalMeterUsage_test.zip.asc").exists()


async def test_wrong_passwords_are_refused_and_lock_the_account(
    service: Any, seeder: Any, client: Any
) -> None:
    rep = await _rep_with_file(seeder)
    threshold = service.settings.lockout_threshold

    def wrong(times: int) -> list[str]:
        answers = []
        for _ in range(times):
            try:
                client.login(rep.duns, "not the password").close()
                answers.append("accepted")
            except ftplib.error_perm as exc:
                answers.append(str(exc))
        return answers

    answers = await asyncio.to_thread(wrong, threshold)
    assert all(a.startswith("530") for a in answers), answers
    account = await service.pool.fetchrow(
        "SELECT locked_until, failed_logins FROM ftps_accounts WHERE rep_duns = $1", rep.duns
    )
    assert account["locked_until"] is not None

    def right() -> str:
        try:
            client.login(rep.duns).close()
            return "accepted"
        except ftplib.error_perm as exc:
            return str(exc)

    assert (await asyncio.to_thread(right)).startswith("530")  # locked: even the right one
    await service.pool.execute(
        "UPDATE ftps_accounts SET locked_until = now() - interval '1 second' WHERE rep_duns = $1",
        rep.duns,
    )
    assert await asyncio.to_thread(right) == "accepted"


async def test_unknown_users_and_anonymous_are_refused(service: Any, client: Any) -> None:
    def attempt(user: str) -> str:
        try:
            client.login(user, "whatever password").close()
            return "accepted"
        except ftplib.error_perm as exc:
            return str(exc)

    for user in ["anonymous", "999999999", "../etc"]:
        assert (await asyncio.to_thread(attempt, user)).startswith("530")


async def test_allow_list_refuses_other_addresses(service: Any, seeder: Any, client: Any) -> None:
    rep = await _rep_with_file(seeder)
    await service.pool.execute(
        "UPDATE ftps_accounts SET allowed_networks = ARRAY['203.0.113.0/24'] WHERE rep_duns = $1",
        rep.duns,
    )

    def attempt() -> str:
        try:
            client.login(rep.duns).close()
            return "accepted"
        except ftplib.error_perm as exc:
            return str(exc)

    assert (await asyncio.to_thread(attempt)).startswith("530")
    await service.pool.execute(
        "UPDATE ftps_accounts SET allowed_networks = ARRAY['203.0.113.0/24', '127.0.0.1/32'] "
        "WHERE rep_duns = $1",
        rep.duns,
    )
    assert await asyncio.to_thread(attempt) == "accepted"
