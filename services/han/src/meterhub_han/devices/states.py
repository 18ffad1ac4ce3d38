"""The HAN device state machine, with seed 004's statuses.

Meterhub itself sets ``Add Acknowledged`` (a REP's provisioning request accepted) and
``Remove Acknowledged`` (a deprovisioning request accepted); every other status comes from
the TDSP. A TDSP's report is checked here before it is applied: a report that does not follow
from the device's current status is refused, logged and never applied.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from meterhub_common.models.han import SLOT_STATUSES, DeviceStatus

S = DeviceStatus


class Phase(StrEnum):
    """Which request a TDSP report is about: the add request or the remove request."""

    ADD = "add"
    REMOVE = "remove"


ADD_PHASE: Final = frozenset(
    {S.ADD_ACKNOWLEDGED, S.ADD_PENDING, S.METER_READY, S.DEVICE_ADDED, S.ADD_REJECTED, S.ADD_FAILED}
)
REMOVE_PHASE: Final = frozenset(
    {
        S.REMOVE_ACKNOWLEDGED,
        S.REMOVE_PENDING,
        S.DEVICE_REMOVED,
        S.REMOVE_REJECTED,
        S.REMOVE_FAILED,
    }
)

TDSP_TRANSITIONS: Final[dict[DeviceStatus, frozenset[DeviceStatus]]] = {
    S.ADD_ACKNOWLEDGED: frozenset(
        {S.ADD_PENDING, S.METER_READY, S.DEVICE_ADDED, S.ADD_REJECTED, S.ADD_FAILED}
    ),
    S.ADD_PENDING: frozenset({S.METER_READY, S.DEVICE_ADDED, S.ADD_FAILED}),
    S.METER_READY: frozenset({S.DEVICE_ADDED, S.ADD_FAILED}),
    S.DEVICE_ADDED: frozenset(),
    S.ADD_REJECTED: frozenset(),
    S.ADD_FAILED: frozenset(),
    S.REMOVE_ACKNOWLEDGED: frozenset(
        {S.REMOVE_PENDING, S.DEVICE_REMOVED, S.REMOVE_REJECTED, S.REMOVE_FAILED}
    ),
    S.REMOVE_PENDING: frozenset({S.DEVICE_REMOVED, S.REMOVE_FAILED}),
    S.DEVICE_REMOVED: frozenset(),
    S.REMOVE_REJECTED: frozenset(),
    S.REMOVE_FAILED: frozenset(),
}
"""Status a TDSP may report -> from which current statuses."""

REMOVABLE: Final = frozenset({S.DEVICE_ADDED, S.METER_READY, S.REMOVE_FAILED})
"""A REP may ask to deprovision a device in these statuses (Meterhub -> Remove Acknowledged)."""


def takes_slot(status: DeviceStatus | str) -> bool:
    return DeviceStatus(status) in SLOT_STATUSES


def phase_of(status: DeviceStatus) -> Phase:
    return Phase.ADD if status in ADD_PHASE else Phase.REMOVE


def refusal(current: DeviceStatus, reported: DeviceStatus, phase: Phase) -> str | None:
    """Why a TDSP report of ``reported`` cannot be applied, or None if it can.

    ``phase`` says whether the report names the device's add request or its remove request.
    A report equal to the current status is a repeat and is handled by the caller.
    """
    if phase_of(reported) is not phase:
        return f"status {reported.value!r} does not belong to a {phase.value} request"
    if reported in (S.ADD_ACKNOWLEDGED, S.REMOVE_ACKNOWLEDGED):
        return f"status {reported.value!r} is set by Meterhub when it accepts a request"
    if reported not in TDSP_TRANSITIONS[current]:
        allowed = ", ".join(sorted(s.value for s in TDSP_TRANSITIONS[current])) or "none"
        return (
            f"a device in status {current.value!r} cannot move to {reported.value!r} "
            f"(allowed: {allowed})"
        )
    return None
