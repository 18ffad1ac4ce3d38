"""Notice vocabulary: types and their labels, affected services, audience codes."""

from __future__ import annotations

from enum import StrEnum

from meterhub_common.models.notifier import NoticeType

__all__ = [
    "AUDIENCES",
    "FIRST_NOTICE_TYPES",
    "FOLLOW_UP_TYPES",
    "OUTAGE_TYPES",
    "AffectedService",
    "NoticeType",
    "type_label",
]


class AffectedService(StrEnum):
    """The market services of seed 002 section 2, as a notice names them."""

    GUI = "GUI"
    API = "API"
    FTPS = "FTPS"
    HAN = "HAN"
    CALL_CENTER = "call center"


_LABELS = {
    NoticeType.PLANNED_OUTAGE: "Planned Outage",
    NoticeType.UNPLANNED_OUTAGE: "Unplanned Outage",
    NoticeType.UPDATE: "Update",
    NoticeType.RESOLUTION: "Resolution",
    NoticeType.CANCELLATION: "Cancellation",
    NoticeType.GENERAL: "General",
}

# A thread starts with one of these; the others only follow up an existing thread.
FIRST_NOTICE_TYPES = (NoticeType.PLANNED_OUTAGE, NoticeType.UNPLANNED_OUTAGE, NoticeType.GENERAL)
FOLLOW_UP_TYPES = (NoticeType.UPDATE, NoticeType.RESOLUTION)
OUTAGE_TYPES = (NoticeType.PLANNED_OUTAGE, NoticeType.UNPLANNED_OUTAGE)

# The X of X-YMMDDYY-NN: who the notice is for. Our reading of ERCOT's ids (M-A121119-01):
# the first letter names the market segment addressed, M for the whole market. Meterhub's
# market is retail, so we split it the way its participants are: R for REPs and third parties,
# T for TDSPs. The default intended-audience text of each is below.
AUDIENCES = {
    "M": "Retail Market Participants (REPs, TDSPs, CSPs) and ERCOT",
    "R": "Retail Electric Providers and authorized third parties (CSPs)",
    "T": "Transmission and Distribution Service Providers (TDSPs)",
}


def type_label(notice_type: str, *, reminder: bool = False) -> str:
    label = _LABELS[NoticeType(notice_type)]
    return f"{label} Reminder" if reminder else label
