"""What became of a status a TDSP reported (shared by devices and messages)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ReportOutcome:
    """Applied, a harmless repeat of the current status, or refused with a reason."""

    applied: bool
    current: str
    refused: str | None = None
