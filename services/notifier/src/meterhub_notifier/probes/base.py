"""What a probe is, and the accounts the probes use (from ``MH_NOTIFIER_PROBE_CREDENTIALS``)."""

from __future__ import annotations

from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class ProbeFailure(Exception):
    """The probed transaction did not succeed; the message says where it failed."""


class Probe(Protocol):
    service: str

    async def check(self) -> None:
        """Perform one real transaction against the service; raise on any failure."""
        ...


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ClientCredentials(_Config):
    client_id: str = Field(min_length=1)
    client_secret: SecretStr


class UsageProbeConfig(ClientCredentials):
    """A REP (or other) client that may read ``esiid``; the read is of ``days_back`` ago."""

    esiid: str = Field(pattern=r"^[A-Za-z0-9]{1,64}$")
    days_back: int = Field(default=2, ge=1, le=30)
    read_path: str = "/v1/esiids/{esiid}/intervals?start={day}&end={day}"


class IngestProbeConfig(ClientCredentials):
    """A TDSP client; the probe reads the newest entry of its file list."""

    path: str = "/v1/files?limit=1"


class HanProbeConfig(_Config):
    """A REP client (WS-Security UsernameToken) and an ESI ID it serves."""

    username: str = Field(min_length=1)
    password: SecretStr
    esiid: str = Field(pattern=r"^[A-Za-z0-9]{1,64}$")
    path: str = "/soap"


class FtpsProbeConfig(_Config):
    """An FTPS account (explicit TLS); the probe logs in and lists its folder."""

    host: str
    port: int = Field(default=21, gt=0, lt=65536)
    username: str = Field(min_length=1)
    password: SecretStr


def parse(model: type[_Config], raw: dict[str, Any], service: str) -> Any:
    try:
        return model.model_validate(raw)
    except ValueError as exc:
        raise ValueError(f"probe_credentials[{service!r}] is not valid: {exc}") from exc
