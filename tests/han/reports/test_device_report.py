"""HAN devices by status type and by TDSP territory (seed 002 section 7.4)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text


async def test_devices_are_counted_by_status_and_territory(
    han: Any, ids: Any, make_token: Any
) -> None:
    world = han.world
    before = await _report(han, make_token)
    ours = await han.add_esiid()
    theirs = await han.add_esiid(tdsp_duns=world.other_tdsp.duns)
    client = han.zeep()
    added = []
    for esiid in (ours, ours, ours, theirs):
        answer = await client.ProvisionDevice(
            EsiId=esiid, MacAddress=ids.mac(), InstallCode=ids.install_code()
        )
        added.append(answer.RequestId)
    moment = datetime.now(UTC)
    await han.connection.execute(
        text("UPDATE han_devices SET status = 'Device Added' WHERE add_request_id = ANY(:r)"),
        {"r": added[:2]},
    )
    await han.connection.execute(
        text("UPDATE han_devices SET status = 'Add Failed' WHERE add_request_id = :r"),
        {"r": added[3]},
    )
    await han.connection.execute(
        text(
            "INSERT INTO han_device_history (device_id, esiid, mac_address, request_id, status,"
            " description, reported_by, status_at, recorded_at) SELECT id, esiid, mac_address,"
            " add_request_id, status, 'test', 'tdsp', now(), now() + interval '1 second'"
            " FROM han_devices WHERE add_request_id = ANY(:r)"
        ),
        {"r": [added[0], added[1], added[3]]},
    )
    report = await _report(han, make_token)
    by_status = {row["status"]: row for row in report["by_status"]}
    assert len(by_status) == 11
    delta = {
        status: row["count"]
        - next(r["count"] for r in before["by_status"] if r["status"] == status)
        for status, row in by_status.items()
    }
    assert {k: v for k, v in delta.items() if v} == {
        "Device Added": 2,
        "Add Acknowledged": 1,
        "Add Failed": 1,
    }
    assert by_status["Add Failed"]["takes_slot"] is False
    assert by_status["Device Added"]["takes_slot"] is True
    territories = {row["tdsp_duns"]: row for row in report["by_tdsp"]}
    assert territories[world.tdsp.duns]["total"] == 3
    assert territories[world.tdsp.duns]["tdsp_name"] == f"Test {world.tdsp.client_id}"
    assert territories[world.tdsp.duns]["by_status"]["Device Added"] == 2
    assert territories[world.other_tdsp.duns]["by_status"] == {
        **{s: 0 for s in by_status},
        "Add Failed": 1,
    }
    # As of a moment before the TDSP's reports, the same devices were all Add Acknowledged.
    earlier = await _report(han, make_token, as_of=moment.isoformat())
    earlier_territory = {row["tdsp_duns"]: row for row in earlier["by_tdsp"]}[world.tdsp.duns]
    assert earlier_territory["by_status"]["Add Acknowledged"] == 3
    assert earlier_territory["by_status"]["Device Added"] == 0
    ancient = await _report(han, make_token, as_of=(moment - timedelta(days=3650)).isoformat())
    assert world.tdsp.duns not in {row["tdsp_duns"] for row in ancient["by_tdsp"]}


async def _report(han: Any, make_token: Any, **params: str) -> Any:
    token = make_token("operator")
    async with han.client() as client:
        response = await client.get(
            "/v1/reports/devices", params=params, headers={"Authorization": f"Bearer {token}"}
        )
    assert response.status_code == 200, response.text
    return response.json()


async def test_the_report_is_for_operators_regulators_and_services(
    han: Any, make_token: Any
) -> None:
    async with han.client() as client:
        for role, expected in (
            ("regulator", 200),
            ("service", 200),
            ("rep", 403),
            ("tdsp", 403),
            ("customer", 403),
        ):
            token = make_token(role, "123456789" if role in ("rep", "tdsp") else None)
            response = await client.get(
                "/v1/reports/devices", headers={"Authorization": f"Bearer {token}"}
            )
            assert response.status_code == expected, role
        assert (await client.get("/v1/reports/devices")).status_code == 401
