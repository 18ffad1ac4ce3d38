"""``meterhub-dev run``: the whole system on this machine, over TLS, with demo data.

Starts (or reuses) PostgreSQL in ``.state/dev/pg``, migrates, seeds demo participants, starts
the five services, the SMTP sink and the TDSP head-end simulator as child processes, loads
demo usage through the real ingest API, prints where everything is and waits for Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from meterhub_common.auth import generate_signing_key
from meterhub_common.devtls import ensure_dev_ca, issue_server_cert
from meterhub_common.pgp import Keyring
from meterhub_devstack import demo
from meterhub_devstack.demo_usage import load_demo_usage
from meterhub_devstack.pg import PostgresCluster, free_port
from meterhub_devstack.testing import migrate

REPO = Path(__file__).resolve().parents[4]
STATE = Path(os.environ.get("MH_DEV_STATE", REPO / ".state" / "dev"))
PREFERRED_PORTS = {
    "ingest": 8441,
    "usage-api": 8442,
    "han": 8443,
    "ftps-publisher": 8444,
    "notifier": 8445,
    "headend-tdsp-north": 8446,
    "headend-tdsp-gulf": 8447,
    "smtp": 8025,
    "ftps": 2121,
    "postgres": 55432,
}
SERVICES = {
    "ingest": "meterhub_ingest",
    "usage-api": "meterhub_usage_api",
    "han": "meterhub_han",
    "ftps-publisher": "meterhub_ftps_publisher",
    "notifier": "meterhub_notifier",
}
PASSIVE_PORTS = (30000, 30019)


@dataclass
class Stack:
    """What a run owns: state paths, chosen ports, child processes."""

    state: Path
    ports: dict[str, int] = field(default_factory=dict)
    children: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    cluster: PostgresCluster | None = None
    database_url: str = ""

    @property
    def certs(self) -> Path:
        return self.state / "tls"

    @property
    def ca_cert(self) -> Path:
        return self.certs / "ca.pem"

    def url(self, name: str) -> str:
        return f"https://localhost:{self.ports[name]}"

    def choose_ports(self) -> None:
        path = self.state / "ports.json"
        saved: dict[str, int] = json.loads(path.read_text()) if path.exists() else {}
        for name, preferred in PREFERRED_PORTS.items():
            port = saved.get(name, preferred)
            self.ports[name] = port if _port_free(port) else free_port()
        path.write_text(json.dumps(self.ports, indent=2))


def _port_free(port: int) -> bool:
    return free_port(port) == port


def _log(message: str) -> None:
    print(f"[meterhub] {message}", flush=True)


def prepare(stack: Stack) -> dict[str, str]:
    """Everything made once and reused: CA and certificates, keys, database, demo rows."""
    stack.state.mkdir(parents=True, exist_ok=True)
    ca = ensure_dev_ca(stack.certs)
    issue_server_cert(ca, stack.certs, "localhost")
    generate_signing_key(
        stack.state / "keys" / "token-private.pem", stack.state / "keys" / "token-public.pem"
    )
    repository = Keyring(stack.state / "gnupg" / "repository")
    if not repository.gpg.list_keys(secret=True):
        repository.generate_key("Meterhub Repository (development)", "repository@meterhub.test")
    stack.choose_ports()
    if os.environ.get("DATABASE_URL"):
        stack.database_url = os.environ["DATABASE_URL"]
        _log("using DATABASE_URL from the environment")
    else:
        cluster = PostgresCluster.in_folder(
            stack.state / "pg", preferred_port=PREFERRED_PORTS["postgres"]
        )
        cluster.start()
        stack.cluster = cluster
        stack.database_url = cluster.url
        stack.ports["postgres"] = cluster.port
        _log(f"PostgreSQL running on port {cluster.port} (data in {cluster.data_dir})")
    migrate(stack.database_url, "upgrade", "head")
    credentials = demo.load_or_make_credentials(stack.state / "credentials.json")
    asyncio.run(demo.seed_reference_data(stack.database_url, credentials))
    return credentials


def service_env(stack: Stack, name: str) -> dict[str, str]:
    cert, key = stack.certs / "localhost.pem", stack.certs / "localhost-key.pem"
    env = {
        **os.environ,
        "DATABASE_URL": stack.database_url,
        "MH_ENVIRONMENT": "development",
        "MH_TOKEN_PUBLIC_KEY_FILE": str(stack.state / "keys" / "token-public.pem"),
        "OTEL_SEMCONV_STABILITY_OPT_IN": "http",
        "OTEL_SERVICE_NAME": name,
        "SSL_CERT_FILE": str(stack.ca_cert),
        # Services call each other over TLS with the development CA.
        "MH_CA_CERT_FILE": str(stack.ca_cert),
    }
    secret = stack.state / "session-secret"
    if not secret.exists():
        secret.write_text(os.urandom(32).hex())
        secret.chmod(0o600)
    env.update(_SERVICE_ENV[name](stack, cert, key, secret.read_text()))
    return env


def _ingest_env(stack: Stack, cert: Path, key: Path, secret: str) -> dict[str, str]:
    return {
        "MH_INGEST_PGP_HOME": str(stack.state / "gnupg" / "repository"),
        "MH_INGEST_SESSION_SECRET": secret,
        "MH_INGEST_WORKERS": "2",
    }


def _usage_env(stack: Stack, cert: Path, key: Path, secret: str) -> dict[str, str]:
    return {
        "MH_USAGE_TOKEN_PRIVATE_KEY_FILE": str(stack.state / "keys" / "token-private.pem"),
        "MH_USAGE_FTPS_PUBLISHER_URL": stack.url("ftps-publisher"),
        "MH_USAGE_SMTP_HOST": "127.0.0.1",
        "MH_USAGE_SMTP_PORT": str(stack.ports["smtp"]),
        "MH_USAGE_HEADEND_URLS": json.dumps(_headend_urls(stack)),
    }


def _ftps_env(stack: Stack, cert: Path, key: Path, secret: str) -> dict[str, str]:
    return {
        "MH_FTPS_ROOT": str(stack.state / "ftps"),
        "MH_FTPS_HOST": "127.0.0.1",
        "MH_FTPS_PORT": str(stack.ports["ftps"]),
        "MH_FTPS_PASSIVE_PORTS": f"{PASSIVE_PORTS[0]}-{PASSIVE_PORTS[1]}",
        "MH_FTPS_TLS_CERT_FILE": str(cert),
        "MH_FTPS_TLS_KEY_FILE": str(key),
        "MH_FTPS_PGP_HOME": str(stack.state / "gnupg" / "publisher"),
    }


def _han_env(stack: Stack, cert: Path, key: Path, secret: str) -> dict[str, str]:
    return {
        "MH_HAN_HEADENDS": json.dumps(_headend_urls(stack)),
        "MH_HAN_HEADEND_CA_FILE": str(stack.ca_cert),
    }


def _headend_urls(stack: Stack) -> dict[str, str]:
    """Each TDSP runs its own head-end; the simulator plays one per demo TDSP."""
    return {t.duns or "": f"{stack.url('headend-' + t.key)}/soap" for t in demo.TDSPS}


def _notifier_env(stack: Stack, cert: Path, key: Path, secret: str) -> dict[str, str]:
    credentials = demo.load_or_make_credentials(stack.state / "credentials.json")
    rep, tdsp = demo.REPS[0], demo.TDSPS[0]
    probe_esiid = demo.demo_esiids()[0][0]
    # Probes act as real participants would: a REP reads usage, lists HAN devices and its
    # FTPS folder; a TDSP lists its files.
    probes = {
        "usage-api": {
            "client_id": rep.client_id,
            "client_secret": credentials[rep.key],
            "esiid": probe_esiid,
        },
        "ingest": {"client_id": tdsp.client_id, "client_secret": credentials[tdsp.key]},
        "han": {"username": rep.client_id, "password": credentials[rep.key], "esiid": probe_esiid},
        "ftps-publisher": {
            "host": "127.0.0.1",
            "port": stack.ports["ftps"],
            "username": rep.duns,
            "password": credentials[rep.key],
        },
    }
    return {
        "MH_NOTIFIER_SMTP_HOST": "127.0.0.1",
        "MH_NOTIFIER_SMTP_PORT": str(stack.ports["smtp"]),
        "MH_NOTIFIER_SERVICE_URLS": json.dumps({n: stack.url(n) for n in SERVICES}),
        "MH_NOTIFIER_SERVICE_CLIENT_ID": "meterhub-service",
        "MH_NOTIFIER_SERVICE_CLIENT_SECRET": credentials["service"],
        "MH_NOTIFIER_PROBE_CREDENTIALS": json.dumps(probes),
    }


_SERVICE_ENV = {
    "ingest": _ingest_env,
    "usage-api": _usage_env,
    "ftps-publisher": _ftps_env,
    "han": _han_env,
    "notifier": _notifier_env,
}


def _spawn(stack: Stack, name: str, args: list[str], env: dict[str, str]) -> None:
    logs = stack.state / "logs"
    logs.mkdir(exist_ok=True)
    out = (logs / f"{name}.log").open("ab")
    # Own process group, so Ctrl-C reaches us first and we stop children in order.
    stack.children[name] = subprocess.Popen(
        args, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=REPO, start_new_session=True
    )


def start_processes(stack: Stack) -> None:
    cert, key = stack.certs / "localhost.pem", stack.certs / "localhost-key.pem"
    _spawn(
        stack,
        "smtp",
        [
            sys.executable,
            "-m",
            "meterhub_devstack.smtp_sink",
            "--dir",
            str(stack.state / "mail"),
            "--port",
            str(stack.ports["smtp"]),
            "--cert",
            str(cert),
            "--key",
            str(key),
        ],
        dict(os.environ),
    )
    for name, package in SERVICES.items():
        _spawn(
            stack,
            name,
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                f"{package}.main:create_app",
                "--host",
                "127.0.0.1",
                "--port",
                str(stack.ports[name]),
                "--workers",
                "1",
                "--ssl-certfile",
                str(cert),
                "--ssl-keyfile",
                str(key),
                "--no-access-log",
                # Keep-alive connections from peers must not hold a shutdown forever.
                "--timeout-graceful-shutdown",
                "5",
            ],
            service_env(stack, name),
        )
    credentials = demo.load_or_make_credentials(stack.state / "credentials.json")
    for tdsp in demo.TDSPS:
        name = f"headend-{tdsp.key}"
        sim_args = [
            sys.executable, "-m", "meterhub_headend_sim", "--host", "127.0.0.1",
            "--port", str(stack.ports[name]), "--certfile", str(cert), "--keyfile", str(key),
            "--ca-file", str(stack.ca_cert),
            "--callback-url", f"{stack.url('han')}/v1/tdsp/status",
            "--odr-callback-url", f"{stack.url('usage-api')}/v1/tdsp/odr",
            "--token-url", f"{stack.url('usage-api')}/v1/token",
            "--client-id", tdsp.client_id, "--client-secret", credentials[tdsp.key],
        ]  # fmt: skip
        _spawn(stack, name, sim_args, dict(os.environ))


def wait_healthy(stack: Stack, timeout: float = 90.0) -> None:
    context = ssl.create_default_context(cafile=str(stack.ca_cert))
    pending = [*SERVICES, *(f"headend-{t.key}" for t in demo.TDSPS)]
    deadline = time.monotonic() + timeout
    with httpx.Client(verify=context, timeout=2.0) as client:
        while pending and time.monotonic() < deadline:
            for name in list(pending):
                child = stack.children[name]
                if child.poll() is not None:
                    raise RuntimeError(
                        f"{name} exited with {child.returncode}; see "
                        f"{stack.state / 'logs' / (name + '.log')}"
                    )
                try:
                    if client.get(f"{stack.url(name)}/healthz").status_code == 200:
                        pending.remove(name)
                except httpx.HTTPError:
                    pass
            time.sleep(0.3)
    if pending:
        raise RuntimeError(f"not healthy after {timeout:.0f}s: {', '.join(pending)}")


def endpoints(stack: Stack, credentials: dict[str, str]) -> dict[str, object]:
    return {
        **{name: stack.url(name) for name in SERVICES},
        "headend_sims": {t.duns: stack.url(f"headend-{t.key}") for t in demo.TDSPS},
        "database_url": stack.database_url,
        "ftps": {
            "host": "127.0.0.1",
            "port": stack.ports["ftps"],
            "tls": "explicit",
            "passive_ports": list(PASSIVE_PORTS),
            "root": str(stack.state / "ftps"),
        },
        "smtp": {
            "host": "127.0.0.1",
            "port": stack.ports["smtp"],
            "maildir": str(stack.state / "mail"),
        },
        "ca_cert": str(stack.ca_cert),
        "credentials": {
            row["key"]: {
                k: row[k] for k in ("role", "duns", "client_id", "username", "secret", "grant")
            }
            for row in demo.credentials_table(credentials)
        },
    }


def print_table(info: dict[str, object]) -> None:
    rows = [(name, str(info[name])) for name in SERVICES]
    sims = info["headend_sims"]
    assert isinstance(sims, dict)
    rows += [(f"head-end {duns}", url) for duns, url in sims.items()]
    rows += [("postgres", str(info["database_url"]))]
    ftps = info["ftps"]
    smtp = info["smtp"]
    assert isinstance(ftps, dict) and isinstance(smtp, dict)
    rows += [
        ("ftps", f"ftps://127.0.0.1:{ftps['port']} (explicit TLS)"),
        ("smtp sink", f"smtp://127.0.0.1:{smtp['port']} -> {smtp['maildir']}"),
        ("dev CA", str(info["ca_cert"])),
    ]
    width = max(len(r[0]) for r in rows)
    print("\nMeterhub is running. Endpoints:")
    for name, where in rows:
        print(f"  {name.ljust(width)}  {where}")
    print("\nDemo credentials (client_id or username / secret):")
    creds = info["credentials"]
    assert isinstance(creds, dict)
    for key, c in creds.items():
        login = c["username"] or c["client_id"]
        duns = c["duns"] or "-"
        print(f"  {key.ljust(16)} {c['role'].ljust(9)} {duns.ljust(9)} {login} / {c['secret']}")
    print(f"\nAll of this is in {STATE / 'endpoints.json'}. Ctrl-C stops everything.\n", flush=True)


def stop_children(stack: Stack) -> None:
    # Reverse start order: simulators and the notifier hold keep-alive connections to the
    # services, so they go first.
    for child in reversed(list(stack.children.values())):
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    for name, child in stack.children.items():
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            _log(f"{name} did not stop in 15 s; killing it and its worker processes")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
            child.wait()


def run() -> int:
    started = time.monotonic()
    stack = Stack(state=STATE)
    credentials = prepare(stack)
    interrupted = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal interrupted
        interrupted = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        start_processes(stack)
        wait_healthy(stack)
        info = endpoints(stack, credentials)
        (stack.state / "endpoints.json").write_text(json.dumps(info, indent=2))
        load_demo_usage(stack.state, info)
        print_table(info)
        _log(f"ready in {time.monotonic() - started:.1f} s")
        if os.environ.get("MH_DEV_EXIT_WHEN_READY"):
            return 0
        while not interrupted:
            for name, child in stack.children.items():
                if child.poll() is not None:
                    _log(f"{name} exited with {child.returncode}; stopping everything")
                    interrupted = True
            time.sleep(0.5)
        return 0
    finally:
        _log("stopping")
        stop_children(stack)
        if stack.cluster:
            stack.cluster.stop()
        _log("stopped")


def stop() -> int:
    """For `make clean`: stop a cluster left behind by a killed run."""
    cluster_root = STATE / "pg"
    if (cluster_root / "port").exists():
        PostgresCluster.in_folder(cluster_root).stop()
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(prog="meterhub-dev")
    parser.add_argument("command", choices=["run", "stop"], nargs="?", default="run")
    args = parser.parse_args()
    sys.exit(run() if args.command == "run" else stop())


if __name__ == "__main__":
    main()
