"""The FTPS server: pyftpdlib's TLS handler, hardened, in a thread of the service process.

- explicit TLS (AUTH TLS) required before USER/PASS, and PROT P before any data transfer;
- TLS 1.2 minimum on a pyOpenSSL context (pyftpdlib 2.2 defaults allow TLS 1.0/1.1);
- one thread per connection (``ThreadedFTPServer``): a login verifies an argon2 hash and
  talks to the database, which must not stall the other REPs' transfers;
- every RETR, complete or not, goes to the retrieval log.

pyftpdlib configures servers through class attributes, so each server gets its own handler
subclass and its own IOLoop: several servers in one process (tests) never share settings.
"""

from __future__ import annotations

import logging
import os
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from OpenSSL import SSL
from pyftpdlib.handlers import TLS_FTPHandler
from pyftpdlib.ioloop import IOLoop
from pyftpdlib.servers import ThreadedFTPServer

from meterhub_ftps_publisher.ftps import repository
from meterhub_ftps_publisher.ftps.auth import DbAuthorizer
from meterhub_ftps_publisher.ftps.bridge import DbBridge
from meterhub_ftps_publisher.ftps.filesystem import JailedFS

log = logging.getLogger(__name__)


def tls_context(cert_file: Path, key_file: Path) -> SSL.Context:
    context = SSL.Context(SSL.TLS_SERVER_METHOD)
    context.set_min_proto_version(SSL.TLS1_2_VERSION)
    context.set_options(
        SSL.OP_NO_SSLv2
        | SSL.OP_NO_SSLv3
        | SSL.OP_NO_COMPRESSION
        | SSL.OP_NO_RENEGOTIATION
        | SSL.OP_CIPHER_SERVER_PREFERENCE
    )
    context.use_certificate_chain_file(str(cert_file))
    context.use_privatekey_file(str(key_file))
    context.check_privatekey()
    return context


class RepFtpsHandler(TLS_FTPHandler):  # type: ignore[misc]
    """Configured per server by :func:`_handler_class`; see the module docstring."""

    tls_control_required = True
    tls_data_required = True
    abstracted_fs = JailedFS
    permit_foreign_addresses = False
    permit_privileged_ports = False
    banner = "Meterhub FTPS ready; AUTH TLS required."
    bridge: DbBridge

    def ftp_AUTH(self, line: str) -> None:
        # Only TLS; "SSL" would name protocols we refuse anyway.
        if line.upper() not in ("TLS", "TLS-C"):
            self.respond("504 Use AUTH TLS.")
            return
        super().ftp_AUTH("TLS")

    def ftp_PROT(self, line: str) -> None:
        if line.upper() == "C":
            self.respond("536 Clear data channels are refused; use PROT P.")
            return
        super().ftp_PROT(line)

    def log_transfer(
        self,
        cmd: str,
        filename: str,
        receive: bool,
        completed: bool,
        elapsed: float,
        bytes: int,
    ) -> None:
        super().log_transfer(cmd, filename, receive, completed, elapsed, bytes)
        if cmd != "RETR" or receive:
            return
        finished = datetime.now(UTC)
        try:
            size: int | None = os.path.getsize(filename)
        except OSError:
            size = None
        duns, name, remote = self.username, os.path.basename(filename), str(self.remote_ip)

        def insert(pool: Any) -> Any:
            return repository.record_retrieval(
                pool,
                duns,
                name,
                int(bytes),
                size,
                bool(completed),
                remote,
                finished - timedelta(seconds=float(elapsed)),
                finished,
            )

        try:
            self.bridge.call(insert)
        except Exception:
            # The download itself succeeded; losing its log line must be loud, not fatal.
            log.exception("could not record the retrieval of %s by %s", name, duns)


def _handler_class(
    *,
    authorizer: DbAuthorizer,
    bridge: DbBridge,
    context: SSL.Context,
    passive_ports: list[int],
    masquerade_address: str | None,
    idle_timeout: int,
    auth_failed_delay: float,
) -> type[RepFtpsHandler]:
    attributes: dict[str, Any] = {
        "authorizer": authorizer,
        "bridge": bridge,
        "ssl_context": context,
        "passive_ports": passive_ports,
        "masquerade_address": masquerade_address,
        "timeout": idle_timeout,
        "auth_failed_timeout": auth_failed_delay,
        "max_login_attempts": 3,
    }
    return type("ConfiguredRepFtpsHandler", (RepFtpsHandler,), attributes)


class _Server(ThreadedFTPServer):  # type: ignore[misc]
    def __init__(self, address: tuple[str, int], handler: type, ioloop: IOLoop) -> None:
        # pyftpdlib keeps these on the class: one server's stop must not stop another's.
        self._lock = threading.Lock()
        self._exit = threading.Event()
        super().__init__(address, handler, ioloop=ioloop)


class FtpsServer:
    """Owns the listening socket, its IOLoop thread and the database bridge."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        authorizer: DbAuthorizer,
        bridge: DbBridge,
        context: SSL.Context,
        passive_ports: list[int],
        masquerade_address: str | None,
        max_connections: int,
        max_connections_per_ip: int,
        idle_timeout: int,
        auth_failed_delay: float,
    ) -> None:
        self.bridge = bridge
        handler = _handler_class(
            authorizer=authorizer,
            bridge=bridge,
            context=context,
            passive_ports=passive_ports,
            masquerade_address=masquerade_address,
            idle_timeout=idle_timeout,
            auth_failed_delay=auth_failed_delay,
        )
        self._ioloop = IOLoop.factory()
        self._server = _Server((host, port), handler, self._ioloop)
        self._server.max_cons = max_connections
        self._server.max_cons_per_ip = max_connections_per_ip
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.address
        return str(host), int(port)

    def _serve(self) -> None:
        try:
            while not self._stop.is_set():
                # Short polls so stop() is honoured quickly, from this same thread.
                self._server.serve_forever(timeout=0.2, blocking=False, handle_exit=False)
        except Exception:
            log.exception("the FTPS server loop failed")
        finally:
            self._server.close_all()

    def start(self) -> None:
        self.bridge.start()
        self._thread = threading.Thread(target=self._serve, name="ftps-server", daemon=True)
        self._thread.start()
        host, port = self.address
        log.info("FTPS server listening on %s:%d (explicit TLS, TLS 1.2+)", host, port)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(15)
        self.bridge.stop()
