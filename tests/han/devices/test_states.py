"""The device state machine's tables against seed 004's lists."""

from __future__ import annotations

from meterhub_common.models.han import DeviceStatus
from meterhub_han.devices.states import REMOVABLE, Phase, refusal, takes_slot


def test_slots_follow_seed_004() -> None:
    taking = {s.value for s in DeviceStatus if takes_slot(s)}
    assert taking == {
        "Add Acknowledged", "Add Pending", "Meter Ready", "Device Added",
        "Remove Acknowledged", "Remove Pending", "Remove Failed",
    }  # fmt: skip
    assert {s.value for s in DeviceStatus} - taking == {
        "Add Rejected",
        "Add Failed",
        "Remove Rejected",
        "Device Removed",
    }


def test_only_meterhub_sets_the_acknowledged_statuses() -> None:
    for current in DeviceStatus:
        assert refusal(current, DeviceStatus.ADD_ACKNOWLEDGED, Phase.ADD) is not None
        assert refusal(current, DeviceStatus.REMOVE_ACKNOWLEDGED, Phase.REMOVE) is not None


def test_a_rep_may_remove_a_device_that_is_on_the_meter_or_failed_to_leave() -> None:
    assert {s.value for s in REMOVABLE} == {"Device Added", "Meter Ready", "Remove Failed"}


def test_refusals_explain_what_is_allowed() -> None:
    reason = refusal(DeviceStatus.ADD_PENDING, DeviceStatus.ADD_REJECTED, Phase.ADD)
    assert reason is not None and "Add Failed" in reason and "Device Added" in reason
    phase = refusal(DeviceStatus.REMOVE_ACKNOWLEDGED, DeviceStatus.DEVICE_ADDED, Phase.REMOVE)
    assert phase is not None and "does not belong to a remove request" in phase
