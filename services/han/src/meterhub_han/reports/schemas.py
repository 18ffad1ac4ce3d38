"""JSON shapes of the HAN device report (read by the notifier's monthly AMWG report)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class StatusCount(BaseModel):
    status: str
    takes_slot: bool
    count: int


class TerritoryCount(BaseModel):
    tdsp_duns: str
    tdsp_name: str | None = Field(description="the TDSP's entity name, when it is registered")
    total: int
    by_status: dict[str, int] = Field(description="every device status, zero included")


class DeviceReport(BaseModel):
    as_of: datetime
    total_devices: int
    slot_taking_devices: int
    by_status: list[StatusCount] = Field(description="seed 002 section 7.4, item 1")
    by_tdsp: list[TerritoryCount] = Field(description="seed 002 section 7.4, item 2")
