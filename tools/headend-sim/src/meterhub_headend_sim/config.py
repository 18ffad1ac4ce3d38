"""The simulator's configuration, from the command line or ``HEADEND_SIM_*`` variables."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from enum import StrEnum


class Mode(StrEnum):
    ACK = "ack"  # acknowledge, then report progress to success
    REJECT = "reject"  # refuse every request in the synchronous answer
    FAIL = "fail"  # acknowledge, then report a failure
    SILENT = "silent"  # an outage: answer HTTP 503, report nothing until the mode changes


@dataclass
class SimConfig:
    host: str = "127.0.0.1"
    port: int = 8600
    callback_url: str | None = None
    odr_callback_url: str | None = None
    delay_seconds: float = 0.5
    odr_delay_seconds: float = 1.0
    mode: Mode = Mode.ACK
    device_level_reports: bool = False
    token_url: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    bearer_token: str | None = None
    soap_username: str | None = None
    soap_password: str | None = None
    control_token: str | None = None
    certfile: str | None = None
    keyfile: str | None = None
    ca_file: str | None = None
    callback_attempts: int = 0  # 0: until the report lands
    callback_concurrency: int = 8
    max_body_bytes: int = 65_536


def _env(name: str) -> str | None:
    return os.environ.get(f"HEADEND_SIM_{name.upper()}")


def parse_args(argv: list[str] | None = None) -> SimConfig:
    defaults = SimConfig()
    parser = argparse.ArgumentParser(
        prog="meterhub-headend-sim",
        description="TDSP AMS head-end simulator (SOAP). Every option can also be set as "
        "HEADEND_SIM_<OPTION> (e.g. HEADEND_SIM_CLIENT_SECRET).",
    )

    def option(name: str, default: object, help_text: str, kind: type = str) -> None:
        env = _env(name.replace("-", "_"))
        value = kind(env) if env is not None else default
        parser.add_argument(f"--{name}", type=kind, default=value, help=help_text)

    option("host", defaults.host, "address to listen on")
    option("port", defaults.port, "port to listen on", int)
    option("callback-url", None, "Meterhub's TDSP status callback (POST /v1/tdsp/status)")
    option("odr-callback-url", None, "where on-demand read results are POSTed")
    option("delay-seconds", defaults.delay_seconds, "pause before each progress report", float)
    option("odr-delay-seconds", defaults.odr_delay_seconds, "pause before a read result", float)
    option("mode", defaults.mode.value, "ack | reject | fail | silent")
    option("token-url", None, "OAuth2 token endpoint for the client-credentials grant")
    option("client-id", None, "the TDSP API client's id (client credentials)")
    option("client-secret", None, "the TDSP API client's secret")
    option("bearer-token", None, "a fixed bearer token instead of the token URL")
    option("soap-username", None, "require this WS-Security username on SOAP calls")
    option("soap-password", None, "and this password")
    option("control-token", None, "require this bearer token on /control and /requests")
    option("certfile", None, "TLS certificate (PEM) to serve HTTPS")
    option("keyfile", None, "TLS private key (PEM)")
    option("ca-file", None, "CA bundle to verify the callback and token URLs with")
    option("callback-concurrency", defaults.callback_concurrency, "reports in flight at once", int)
    parser.add_argument(
        "--device-level-reports",
        action="store_true",
        default=(_env("device_level_reports") or "").lower() in ("1", "true", "yes"),
        help="also report CON per HAN device the simulator added to the meter",
    )
    args = parser.parse_args(argv)
    try:
        mode = Mode(args.mode)
    except ValueError:
        parser.error(f"--mode must be one of {', '.join(m.value for m in Mode)}")
    if bool(args.certfile) != bool(args.keyfile):
        parser.error("--certfile and --keyfile go together")
    return SimConfig(
        host=args.host,
        port=args.port,
        callback_url=args.callback_url,
        odr_callback_url=args.odr_callback_url,
        delay_seconds=args.delay_seconds,
        odr_delay_seconds=args.odr_delay_seconds,
        mode=mode,
        device_level_reports=args.device_level_reports,
        token_url=args.token_url,
        client_id=args.client_id,
        client_secret=args.client_secret,
        bearer_token=args.bearer_token,
        soap_username=args.soap_username,
        soap_password=args.soap_password,
        control_token=args.control_token,
        certfile=args.certfile,
        keyfile=args.keyfile,
        ca_file=args.ca_file,
        callback_concurrency=args.callback_concurrency,
    )
