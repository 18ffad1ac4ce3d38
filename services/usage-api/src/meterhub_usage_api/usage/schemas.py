"""The documented shapes of usage responses (the handlers write the bytes themselves)."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field

from meterhub_usage_api.usage.repository import Granularity

DECIMAL_PATTERN = r"^-?[0-9]+(\.[0-9]+)?$"
EXAMPLE_ESIID = "10443720000000001"


class Channel(StrEnum):
    CONSUMPTION = "consumption"
    GENERATION = "generation"

    @property
    def lse_code(self) -> int:
        """The LSE channel: 4 load (consumption), 1 surplus generation."""
        return 4 if self is Channel.CONSUMPTION else 1


class Versions(StrEnum):
    LATEST = "latest"
    ALL = "all"


class IntervalValue(BaseModel):
    start: datetime = Field(examples=["2026-11-01T01:00:00-06:00"])
    end: datetime = Field(examples=["2026-11-01T01:15:00-06:00"])
    kwh: str | None = Field(
        pattern=DECIMAL_PATTERN,
        description="Exact decimal kWh as the TDSP sent it, a string (never a float); "
        "null for a missing interval.",
        examples=["0.2510"],
    )
    status: Literal["A", "E"] | None = Field(
        description="A actual, E estimated; null for a missing interval.", examples=["A"]
    )


class IntervalDay(BaseModel):
    operating_day: date = Field(examples=["2026-11-01"])
    version: int = Field(ge=1, examples=[2])
    current: bool = Field(description="True for the version in force.")
    revision_at: datetime = Field(
        description="When the TDSP created this version of the record (applies to all its "
        "intervals)."
    )
    superseded_at: datetime | None = Field(
        description="When a newer version replaced this one; null for the current version."
    )
    interval_count: Literal[92, 96, 100] = Field(
        description="92 on the spring-forward day, 100 on the fall-back day, 96 otherwise."
    )
    intervals: list[IntervalValue]


class IntervalTotal(BaseModel):
    start: datetime = Field(examples=["2026-11-01T01:00:00-05:00"])
    end: datetime = Field(examples=["2026-11-01T01:00:00-06:00"])
    kwh: str | None = Field(
        pattern=DECIMAL_PATTERN,
        description="Exact sum of the present intervals; null when all are missing.",
        examples=["1.0240"],
    )
    interval_count: int = Field(ge=0, examples=[4])
    estimated_count: int = Field(ge=0, examples=[0])
    missing_count: int = Field(ge=0, examples=[0])
    revision_at: datetime | None = Field(description="The newest revision among the days summed.")


class IntervalsResponse(BaseModel):
    esiid: str = Field(examples=[EXAMPLE_ESIID])
    channel: Channel
    granularity: Granularity
    versions: Versions
    start: date
    end: date
    days: list[IntervalDay] | None = Field(
        default=None, description="granularity=15min: one entry per operating day and version."
    )
    totals: list[IntervalTotal] | None = Field(
        default=None, description="granularity=hour|day|month: sums computed in the database."
    )


class DailyRead(BaseModel):
    meter_number: str
    read_date: date
    version: int = Field(ge=1)
    current: bool
    start_reading: str = Field(pattern=DECIMAL_PATTERN, examples=["10234.5000"])
    end_reading: str = Field(pattern=DECIMAL_PATTERN, examples=["10256.2500"])
    kwh: str = Field(pattern=DECIMAL_PATTERN, examples=["21.7500"])
    revision_at: datetime
    superseded_at: datetime | None


class DailyReadsResponse(BaseModel):
    esiid: str = Field(examples=[EXAMPLE_ESIID])
    versions: Versions
    start: date
    end: date
    reads: list[DailyRead]


class MonthlyUsage(BaseModel):
    meter_number: str
    period_start: date
    period_end: date
    version: int = Field(ge=1)
    current: bool
    kwh: str = Field(pattern=DECIMAL_PATTERN, examples=["1024.0000"])
    demand_kw: str | None = Field(pattern=DECIMAL_PATTERN, examples=["5.2000"])
    revision_at: datetime
    superseded_at: datetime | None


class MonthlyUsageResponse(BaseModel):
    esiid: str = Field(examples=[EXAMPLE_ESIID])
    versions: Versions
    start: date
    end: date
    usage: list[MonthlyUsage]


class Address(BaseModel):
    line: str | None
    city: str | None
    state: str | None
    zip_code: str | None


class Meter(BaseModel):
    meter_number: str
    multiplier: str = Field(pattern=DECIMAL_PATTERN, examples=["1.0000"])
    manufacturer: str | None
    model: str | None
    firmware_version: str | None
    install_date: date | None
    provision_date: date | None
    removal_date: date | None


class PremiseResponse(BaseModel):
    esiid: str = Field(examples=[EXAMPLE_ESIID])
    tdsp_duns: str = Field(examples=["007924772"])
    premise_type: str = Field(examples=["residential"])
    address: Address
    meters: list[Meter]
