"""Shapes of on-demand reads: the answer to a requester, and the head-end's report."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import AwareDatetime, BaseModel, Field, field_validator


class Reading(BaseModel):
    register_kwh: str = Field(
        description="The meter's register reading, kWh, an exact decimal string.",
        examples=["30512.418"],
    )
    read_at: datetime = Field(description="When the meter was read.")


class OdrOut(BaseModel):
    id: uuid.UUID = Field(description="The request id (also sent to the head-end).")
    esiid: str = Field(examples=["10443720000000001"])
    meter_number: str
    status: Literal["PENDING", "COMPLETED", "FAILED"]
    reading: Reading | None = Field(description="Set when COMPLETED.")
    failure_reason: str | None = Field(description="Set when FAILED.")
    requested_at: datetime
    completed_at: datetime | None


class OdrReport(BaseModel):
    """What the head-end POSTs when the read is done or has failed."""

    request_id: str = Field(max_length=64, examples=["4c8f3f0e-0f5e-4b8e-9f55-2a9d8f0b6c11"])
    esiid: str = Field(pattern=r"^[A-Za-z0-9]{1,64}$")
    meter_number: str | None = Field(default=None, max_length=64)
    status: Literal["completed", "failed", "COMPLETED", "FAILED"]
    read_at: AwareDatetime | None = None
    register_kwh: Decimal | None = Field(default=None, ge=0, max_digits=20, decimal_places=6)
    failure_reason: str | None = Field(default=None, max_length=2000)

    @field_validator("register_kwh", mode="before")
    @classmethod
    def _text_only(cls, value: object) -> object:
        # A float would already have lost the exact reading.
        if isinstance(value, float):
            raise ValueError("register_kwh must be a decimal string, not a JSON number")
        return value


class OdrReportAnswer(BaseModel):
    id: uuid.UUID
    status: Literal["COMPLETED", "FAILED"]
