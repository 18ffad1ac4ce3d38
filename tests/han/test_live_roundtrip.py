"""The whole path on real sockets: zeep -> gateway -> outbox -> simulator -> callback."""

from __future__ import annotations

from typing import Any


async def test_provision_reaches_device_added_through_the_simulator(
    fresh_sim: Any, ids: Any
) -> None:
    live = fresh_sim
    esiid = await live.add_esiid()
    answer = await live.call(
        "ProvisionDevice", EsiId=esiid, MacAddress=ids.mac(), InstallCode=ids.install_code()
    )
    assert answer.Device.Status == "Add Acknowledged"
    await live.wait_device(answer.RequestId, "Device Added")
    history = await live.call("GetDeviceHistory", EsiId=esiid)
    statuses = [entry.Status for entry in history.Entry]
    assert statuses[0] == "Add Acknowledged"
    assert statuses[-3:] == ["Add Pending", "Meter Ready", "Device Added"]
    received = await live.sim_request(answer.RequestId)
    assert received is not None and received["receipts"] == 1
