"""HAN gateway benchmark: ProvisionDevice and SendTextMessage at concurrency 16.

The real pieces run as separate processes over TLS on loopback, as deployed: PostgreSQL, the
han service under uvicorn (one worker, the outbox worker in its lifespan) and the head-end
simulator at zero delay, which acknowledges every request and reports its progress back to
the gateway's callback. The load generator sends WS-Security-signed SOAP envelopes over
keep-alive connections with a minimal HTTP client (it shares the two cores with the system
under test, so it should cost little).

Rows: requests/s and p50/p99 latency of each operation (targets: >= 300 requests/s, p99 <=
100 ms on 2 cores), CPU per request by process (``other`` is the rest of the machine, which
this benchmark does not control), how long the outbox then takes to bring every device of
the burst to ``Device Added`` (every message to ``CON``), and the time one request takes from
the REP's call to ``Device Added`` on an otherwise idle system. Baseline (same run): the same
server answering ``GET /healthz`` at the same concurrency.

``python -m bench.bench_han [--requests N] [--concurrency C]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import ssl
import statistics
import subprocess
import sys
import time
import uuid
from datetime import date

import asyncpg
import httpx
import psutil

from bench.common import BENCH_STATE, Tls, fresh_database, header, row, serve, tls, token_keys
from meterhub_common.auth import Principal, TokenIssuer, hash_secret
from meterhub_common.db import libpq_url
from meterhub_common.models.usage_api import Role
from meterhub_devstack.pg import PostgresCluster, free_port
from meterhub_han.devices.install_code import with_crc

DATABASE = "meterhub_bench_han"
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
PASSWORD_TEXT = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
    "#PasswordText"
)
TDSP_DUNS, REP_DUNS = "957877905", "148181938"
CLIENT_ID, SECRET = "bench-rep", "bench-rep-secret"
TARGETS = "target >= 300 req/s, p99 <= 100 ms"


def envelope(body: str) -> bytes:
    return (
        f'<soap:Envelope xmlns:soap="{SOAP}" xmlns:han="urn:meterhub:han:v1">'
        f'<soap:Header><wsse:Security xmlns:wsse="{WSSE}"><wsse:UsernameToken>'
        f"<wsse:Username>{CLIENT_ID}</wsse:Username>"
        f'<wsse:Password Type="{PASSWORD_TEXT}">{SECRET}</wsse:Password>'
        "</wsse:UsernameToken></wsse:Security></soap:Header>"
        f"<soap:Body>{body}</soap:Body></soap:Envelope>"
    ).encode()


def provision(esiid: str) -> bytes:
    mac = "00" + "".join(random.choices("0123456789ABCDEF", k=14))
    code = with_crc(random.randbytes(16)).hex().upper()
    return envelope(
        f"<han:ProvisionDevice><han:EsiId>{esiid}</han:EsiId><han:MacAddress>{mac}"
        f"</han:MacAddress><han:InstallCode>{code}</han:InstallCode></han:ProvisionDevice>"
    )


def text_message(esiid: str, n: int) -> bytes:
    return envelope(
        f"<han:SendTextMessage><han:EsiId>{esiid}</han:EsiId><han:Text>Peak alert {n}"
        "</han:Text><han:Importance>High</han:Importance></han:SendTextMessage>"
    )


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class Connection:
    """A minimal HTTP/1.1 keep-alive client over TLS (httpx costs ~2 ms of CPU a call)."""

    def __init__(self, url: httpx.URL, context: ssl.SSLContext) -> None:
        self.url, self.context = url, context
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, body: bytes = b"", action: str = "") -> tuple[int, bytes]:
        if self.writer is None or self.reader is None:
            self.reader, self.writer = await asyncio.open_connection(
                self.url.host, self.url.port, ssl=self.context
            )
        head = f"{method} {self.url.raw_path.decode()} HTTP/1.1\r\nHost: {self.url.host}\r\n"
        if method == "POST":
            head += (
                f'Content-Type: text/xml; charset=utf-8\r\nSOAPAction: "{action}"\r\n'
                f"Content-Length: {len(body)}\r\n"
            )
        self.writer.write((head + "\r\n").encode() + body)
        status_line = await self.reader.readline()
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value)
        return int(status_line.split()[1]), await self.reader.readexactly(length)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def load(
    url: str,
    context: ssl.SSLContext,
    bodies: list[bytes | None],
    concurrency: int,
    action: str = "",
) -> tuple[float, list[float]]:
    """Send every request (None: a GET) with ``concurrency`` connections."""
    target = httpx.URL(url)
    latencies: list[float] = []
    queue = list(reversed(bodies))

    async def worker() -> None:
        connection = Connection(target, context)
        try:
            while queue:
                body = queue.pop()
                started = time.perf_counter()
                if body is None:
                    status, content = await connection.request("GET")
                else:
                    status, content = await connection.request("POST", body, action)
                latencies.append(time.perf_counter() - started)
                if status != 200:
                    raise RuntimeError(f"{url}: HTTP {status} {content[:500]!r}")
        finally:
            connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, latencies


async def seed(url: str, esiids: list[str]) -> None:
    connection = await asyncpg.connect(libpq_url(url))
    try:
        await connection.executemany(
            "INSERT INTO entities (id, duns, name, role) VALUES ($1, $2, $3, $4)",
            [
                (uuid.uuid4(), REP_DUNS, "Bench REP", "rep"),
                (uuid.uuid4(), TDSP_DUNS, "Bench TDSP", "tdsp"),
            ],
        )
        rep_id = await connection.fetchval("SELECT id FROM entities WHERE duns = $1", REP_DUNS)
        await connection.execute(
            "INSERT INTO api_clients (client_id, entity_id, secret_hash) VALUES ($1, $2, $3)",
            CLIENT_ID,
            rep_id,
            hash_secret(SECRET),
        )
        await connection.copy_records_to_table(
            "esiids",
            records=[(e, TDSP_DUNS, "residential") for e in esiids],
            columns=["esiid", "tdsp_duns", "premise_type"],
        )
        await connection.copy_records_to_table(
            "meters",
            records=[(e, "M1", 1) for e in esiids],
            columns=["esiid", "meter_number", "multiplier"],
        )
        await connection.copy_records_to_table(
            "service_history",
            records=[(e, date(2020, 1, 1), REP_DUNS) for e in esiids],
            columns=["esiid", "start_date", "rep_duns"],
        )
    finally:
        await connection.close()


class CpuMeter:
    """CPU seconds of the gateway, the simulator, PostgreSQL, the load and the machine."""

    def __init__(self, cluster: PostgresCluster, han: int, sim: int) -> None:
        postmaster = int((cluster.data_dir / "postmaster.pid").read_text().split()[0])
        self._roots = {"han": han, "sim": sim, "postgres": postmaster, "load": os.getpid()}

    def sample(self) -> dict[str, float]:
        machine = psutil.cpu_times()
        used = {"machine": machine.user + machine.system + machine.nice + machine.softirq}
        for name, pid in self._roots.items():
            total = 0.0
            with contextlib.suppress(psutil.NoSuchProcess):
                root = psutil.Process(pid)
                family = [root] + (root.children(recursive=True) if name == "postgres" else [])
                for process in family:
                    with contextlib.suppress(psutil.NoSuchProcess):
                        times = process.cpu_times()
                        total += times.user + times.system
            used[name] = total
        return used


def cpu_row(what: str, size: int, before: dict[str, float], after: dict[str, float]) -> None:
    per = {k: (after[k] - before[k]) / size * 1000 for k in before}
    machine = per.pop("machine")
    ours = sum(per.values())
    per["other"] = max(machine - ours, 0.0)
    parts = ", ".join(f"{k} {v:.1f}" for k, v in per.items())
    row(f"{what}: CPU ms per request", str(size), ours / 1000, parts)


def start_simulator(port: int, han_url: str, token: str, certs: Tls) -> subprocess.Popen[bytes]:
    log = BENCH_STATE / "logs" / "headend-sim.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [
            sys.executable, "-m", "meterhub_headend_sim", "--host", "127.0.0.1",
            "--port", str(port), "--certfile", str(certs.cert), "--keyfile", str(certs.key),
            "--ca-file", str(certs.ca), "--callback-url", f"{han_url}/v1/tdsp/status",
            "--delay-seconds", "0", "--mode", "ack", "--bearer-token", token,
        ],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    with httpx.Client(verify=certs.client_context()) as client:
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if client.get(f"https://localhost:{port}/healthz").status_code == 200:
                    return process
            if process.poll() is not None:
                break
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"the head-end simulator did not start; see {log}")


async def wait_until(url: str, sql: str, count: int, within: float) -> float:
    connection = await asyncpg.connect(libpq_url(url))
    started = time.perf_counter()
    try:
        while time.perf_counter() - started < within:
            if await connection.fetchval(sql) >= count:
                return time.perf_counter() - started
            await asyncio.sleep(0.05)
    finally:
        await connection.close()
    raise RuntimeError(f"not done within {within} s: {sql}")


async def call_to_added(
    url: str, soap_url: str, context: ssl.SSLContext, esiids: list[str]
) -> list[float]:
    """One request at a time on an idle system: REP call -> Device Added."""
    database = await asyncpg.connect(libpq_url(url))
    connection = Connection(httpx.URL(soap_url), context)
    timings = []
    try:
        for esiid in esiids:
            started = time.perf_counter()
            status, content = await connection.request("POST", provision(esiid))
            if status != 200:
                raise RuntimeError(f"ProvisionDevice: HTTP {status} {content[:300]!r}")
            while not await database.fetchval(
                "SELECT true FROM han_devices WHERE esiid = $1 AND status = 'Device Added'", esiid
            ):
                await asyncio.sleep(0.002)
            timings.append(time.perf_counter() - started)
    finally:
        connection.close()
        await database.close()
    return timings


async def measure(
    url: str,
    cluster: PostgresCluster,
    han: subprocess.Popen[bytes],
    sim: subprocess.Popen[bytes],
    soap_url: str,
    certs: Tls,
    esiids: list[str],
    requests: int,
    concurrency: int,
) -> None:
    context = certs.client_context()
    meter = CpuMeter(cluster, han.pid, sim.pid)
    health = soap_url.replace("/soap", "/healthz")
    warm = envelope(f"<han:GetDevices><han:EsiId>{esiids[-1]}</han:EsiId></han:GetDevices>")
    await load(soap_url, context, [warm] * 50, 4)  # connections, caches, one argon2 check
    elapsed, _ = await load(health, context, [None] * requests, concurrency)
    baseline = f"GET /healthz {requests / elapsed:.0f} req/s; {TARGETS}"

    phases = [
        ("ProvisionDevice", [provision(e) for e in esiids[:requests]], "Device Added",
         "SELECT count(*) FROM han_devices WHERE status = 'Device Added'"),
        ("SendTextMessage",
         [text_message(e, n) for n, e in enumerate(esiids[requests : 2 * requests])], "CON",
         "SELECT count(*) FROM han_messages WHERE category = 'STM' AND status = 'CON'"),
    ]  # fmt: skip
    for name, bodies, final, done_sql in phases:
        before = meter.sample()
        elapsed, latencies = await load(
            soap_url, context, list(bodies), concurrency, f"urn:meterhub:han:v1/{name}"
        )
        size = str(requests)
        row(f"{name} c={concurrency}", size, elapsed, f"{requests / elapsed:.0f} req/s", baseline)
        p50, p99 = statistics.median(latencies), percentile(latencies, 0.99)
        row(f"{name} latency", size, p99, f"p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms")
        cpu_row(f"{name} calls (the burst)", requests, before, meter.sample())
        drain = await wait_until(url, done_sql, requests, within=900)
        row(
            f"outbox drain after the burst: all -> {final}",
            size,
            drain,
            f"{requests / (elapsed + drain):.0f}/s end to end",
        )
        cpu_row(f"{name} to {final}", requests, before, meter.sample())

    await asyncio.sleep(2)
    timings = await call_to_added(url, soap_url, context, esiids[2 * requests :])
    p50, p99 = statistics.median(timings), percentile(timings, 0.99)
    row(
        "REP call -> Device Added, one at a time on an idle system",
        str(len(timings)),
        p99,
        f"p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms",
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args(argv)

    cluster, url = fresh_database(DATABASE)
    probes = 30
    esiids = ["10443720" + f"{n:09d}" for n in range(2 * args.requests + probes)]
    asyncio.run(seed(url, esiids))
    certs = tls()
    private, public = token_keys()
    issuer = TokenIssuer(private.read_bytes(), issuer="meterhub", ttl_seconds=7200)
    tdsp_token = issuer.issue(
        Principal(entity_id=uuid.uuid4(), role=Role.TDSP, duns=TDSP_DUNS, client_id="bench-tdsp")
    )
    sim_port = free_port()
    env = {
        "DATABASE_URL": url,
        "MH_ENVIRONMENT": "development",
        "MH_TOKEN_PUBLIC_KEY_FILE": str(public),
        "MH_HAN_DATABASE_POOL_SIZE": "20",
        "MH_HAN_LOG_LEVEL": "WARNING",
        "MH_HAN_HEADENDS": f'{{"{TDSP_DUNS}": "https://localhost:{sim_port}/soap"}}',
        "MH_HAN_HEADEND_CA_FILE": str(certs.ca),
    }
    header()
    with serve("meterhub_han.main:create_app", env, certs, BENCH_STATE / "logs" / "han.log") as han:
        sim = start_simulator(sim_port, han.url, tdsp_token, certs)
        try:
            asyncio.run(
                measure(
                    url,
                    cluster,
                    han.process,
                    sim,
                    f"{han.url}/soap",
                    certs,
                    esiids,
                    args.requests,
                    args.concurrency,
                )
            )
        finally:
            sim.terminate()
            try:
                sim.wait(timeout=15)
            except subprocess.TimeoutExpired:
                sim.kill()


if __name__ == "__main__":
    main()
