"""Request and response bodies of the notice API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from meterhub_notifier.notices.calendar import as_central
from meterhub_notifier.notices.types import AffectedService, NoticeType

OneLine = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=r"^[^\r\n]*$"),
]
Paragraph = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20000)]
OptionalParagraph = Annotated[str, StringConstraints(strip_whitespace=True, max_length=20000)]


def _central(value: datetime | None) -> datetime | None:
    return None if value is None else as_central(value)


class _Fields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("starts_at", "ends_at", mode="after", check_fields=False)
    @classmethod
    def _in_central(cls, value: datetime | None) -> datetime | None:
        # Naive times are Central wall-clock times; ambiguous or skipped ones are refused.
        return _central(value)


class NoticeCreate(_Fields):
    """A new notice, which starts a thread."""

    notice_type: Literal[NoticeType.PLANNED_OUTAGE, NoticeType.UNPLANNED_OUTAGE, NoticeType.GENERAL]
    audience_code: Literal["M", "R", "T"] = "M"
    short_description: OneLine
    long_description: Paragraph
    intended_audience: OneLine | None = None
    affected_services: list[AffectedService] = Field(default_factory=list, max_length=5)
    # Planned outage: the window (default: the next regular maintenance window allowed by the
    # advance-notice rule). Unplanned outage: since when (default now) and, if known, until.
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    # Free text for DAY(S) AFFECTED when there is no window (general notices).
    days_affected: OneLine | None = None
    action_required: OptionalParagraph | None = None
    additional_information: OptionalParagraph | None = None
    contact: OneLine | None = None
    # Lets a planned outage skip the advance-notice rule (an emergency change).
    emergency: bool = False
    listservs: list[str] | None = None
    # Planned outages get a reminder before they start unless this is false.
    reminder: bool = True

    @model_validator(mode="after")
    def _coherent(self) -> NoticeCreate:
        outage = self.notice_type in (NoticeType.PLANNED_OUTAGE, NoticeType.UNPLANNED_OUTAGE)
        if outage and not self.affected_services:
            raise ValueError("an outage notice names at least one affected service")
        if self.notice_type == NoticeType.PLANNED_OUTAGE and (self.starts_at is None) != (
            self.ends_at is None
        ):
            raise ValueError("a planned outage gives both starts_at and ends_at, or neither")
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class NoticeUpdate(_Fields):
    """A follow-up in a thread; fields left out keep the thread's latest values."""

    notice_type: Literal[NoticeType.UPDATE, NoticeType.RESOLUTION] = NoticeType.UPDATE
    short_description: OneLine | None = None
    long_description: Paragraph | None = None
    intended_audience: OneLine | None = None
    affected_services: list[AffectedService] | None = Field(default=None, max_length=5)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    days_affected: OneLine | None = None
    action_required: OptionalParagraph | None = None
    additional_information: OptionalParagraph | None = None
    contact: OneLine | None = None
    emergency: bool | None = None
    listservs: list[str] | None = None


class NoticeCancel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: OptionalParagraph | None = None


class NoticeOut(BaseModel):
    notice_id: str
    thread: str
    thread_status: str
    sequence: int
    notice_type: str
    reminder: bool
    notice_date: date
    issued_at: datetime
    issued_by: str
    short_description: str
    intended_audience: str
    affected_services: list[str]
    days_affected: str
    starts_at: datetime | None
    ends_at: datetime | None
    long_description: str
    action_required: str | None
    additional_information: str | None
    contact: str
    listservs: list[str]
    emergency: bool
    cancels: str | None
    text: str | None = None
    # Set when a planned outage lies outside the regular maintenance window.
    outside_maintenance_window: bool | None = None


class NoticePage(BaseModel):
    items: list[NoticeOut]
    total: int
    limit: int
    offset: int
