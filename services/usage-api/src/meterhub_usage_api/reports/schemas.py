"""Request and response shapes of ``/v1/reports``."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

EXAMPLE_ESIID = "10443720000000001"

Esiid = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]{1,64}$")]


class ReportType(StrEnum):
    INTERVAL = "interval"
    DAILY = "daily"
    MONTHLY = "monthly"


class FileFormat(StrEnum):
    CSV = "csv"
    LSE = "lse"


class ReportIn(BaseModel):
    type: ReportType = Field(
        description="interval: 15-minute usage (both channels); daily: daily meter reads; "
        "monthly: monthly billed usage."
    )
    esiids: list[Esiid] = Field(
        min_length=1,
        description="Up to 50,000 ESI IDs (more answers 422); duplicates are reported once.",
        json_schema_extra={"maxItems": 50_000},
        examples=[[EXAMPLE_ESIID, "10443720000000002"]],
    )
    start: date = Field(description="First operating day (inclusive).", examples=["2026-10-01"])
    end: date = Field(description="Last operating day (inclusive).", examples=["2026-10-31"])
    versions: Literal["latest", "all"] = Field(
        default="latest", description="all: every version (REP and TDSP clients only)."
    )
    format: FileFormat = Field(
        default=FileFormat.CSV,
        description="csv: SMT's layouts; lse: ERCOT's LSE layout (interval reports only), "
        "split into files of at most 50,000 records.",
    )


class ReportFileOut(BaseModel):
    file_name: str = Field(description="The name in the requester's FTPS folder.")
    records: int
    bytes: int = Field(description="Size before the publisher zipped and encrypted it.")
    delivered_at: datetime | None


class ReportCounts(BaseModel):
    requested: int = Field(description="Distinct ESI IDs asked for.")
    included: int | None = Field(description="ESI IDs the requester may see in the range.")
    excluded: int | None = Field(description="ESI IDs left out: see excluded_esiids.")
    records: int | None = Field(
        description="Rows delivered: intervals, daily reads or billing periods (CSV), or LSE "
        "records (one ESI ID, channel, day and version each)."
    )
    chunks_total: int
    chunks_done: int


class ReportOut(BaseModel):
    id: uuid.UUID
    status: Literal["queued", "running", "completed", "failed"]
    type: ReportType
    format: FileFormat
    versions: Literal["latest", "all"]
    start: date
    end: date
    counts: ReportCounts
    files: list[ReportFileOut] = Field(
        description="Delivered (or being delivered) files; none when no included ESI ID had "
        "data in the range (the counts and excluded_esiids still say why)."
    )
    excluded_esiids: list[str] = Field(
        description="Requested ESI IDs the requester may not see on any day of the range (or "
        "that do not exist), in request order. Known once the worker has scoped the report."
    )
    attempts: int
    last_error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class ReportList(BaseModel):
    reports: list[ReportOut] = Field(description="Newest first; excluded ESI IDs are omitted.")
