"""The TDSP status callback's JSON bodies."""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class StatusReport(BaseModel):
    """A status a TDSP head-end reports for one of our requests."""

    model_config = ConfigDict(extra="forbid")

    request_id: str = Field(
        pattern=r"^[RC][0-9]{12}$",
        description="Meterhub's request id (R...) or cancellation id (C...) the head-end got",
    )
    status: str = Field(
        min_length=3,
        max_length=40,
        description="a device status (e.g. 'Device Added') for device requests, a message "
        "status code (PEN, STR, CON, OPT, FLR, ACK) for messages",
    )
    description: str | None = Field(default=None, max_length=1000)
    timestamp: AwareDatetime | None = Field(
        default=None, description="when the status happened at the head-end (default: now)"
    )
    device_mac: str | None = Field(
        default=None,
        max_length=23,
        description="for a message, the HAN device the status is about (else the message)",
    )


class StatusReportResult(BaseModel):
    request_id: str
    status: str = Field(description="the current status after the report")
    applied: bool = Field(description="false when the report repeated the current status")
