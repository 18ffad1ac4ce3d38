"""The TDSP status callback: every transition seed 004 allows is applied, every other refused.

The expected tables are written out here, independently of the service's own tables.
"""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text

DEVICE_STATUSES = [
    "Add Acknowledged", "Add Pending", "Meter Ready", "Device Added", "Add Rejected",
    "Add Failed", "Remove Acknowledged", "Remove Pending", "Device Removed",
    "Remove Rejected", "Remove Failed",
]  # fmt: skip
REMOVE_PHASE = {
    "Remove Acknowledged", "Remove Pending", "Device Removed", "Remove Rejected", "Remove Failed"
}  # fmt: skip
DEVICE_ALLOWED: dict[tuple[str, str], set[str]] = {
    ("Add Acknowledged", "add"): {
        "Add Pending", "Meter Ready", "Device Added", "Add Rejected", "Add Failed"
    },
    ("Add Pending", "add"): {"Meter Ready", "Device Added", "Add Failed"},
    ("Meter Ready", "add"): {"Device Added", "Add Failed"},
    ("Remove Acknowledged", "remove"): {
        "Remove Pending", "Device Removed", "Remove Rejected", "Remove Failed"
    },
    ("Remove Pending", "remove"): {"Device Removed", "Remove Failed"},
}  # fmt: skip

CODES = ["RQA", "ACK", "PEN", "STR", "CON", "OPT", "FLR"]
CATEGORIES = ["PRM", "LCE", "STM", "CLE", "CAL", "CSM"]


def message_allowed(category: str, current: str) -> set[str]:
    event = category == "LCE"
    table = {
        "RQA": {"ACK", "PEN", "FLR"},
        "ACK": {"PEN", "CON", "FLR"} | ({"STR", "OPT"} if event else set()),
        "PEN": {"CON", "FLR"} | ({"STR", "OPT"} if event else set()),
        "STR": {"CON", "OPT", "FLR"},
        "CON": {"OPT"} if event else set(),
        "OPT": set(),
        "FLR": set(),
    }
    return table[current]


def new_request_id() -> str:
    return "R9" + "".join(random.choices("0123456789", k=11))


async def make_device(
    han: Any, status: str, ids: Any, esiid: str | None = None
) -> tuple[str, str | None, str]:
    add_id = new_request_id()
    remove_id = new_request_id() if status in REMOVE_PHASE else None
    esiid = esiid or await han.add_esiid()
    await han.connection.execute(
        text(
            "INSERT INTO han_devices (id, esiid, meter_number, tdsp_duns, rep_duns, mac_address,"
            " install_code, status, add_request_id, remove_request_id, status_at) VALUES"
            " (gen_random_uuid(), :e, 'M1', :t, :r, :m, :c, :s, :a, :rm, now())"
        ),
        {
            "e": esiid,
            "t": han.world.tdsp.duns,
            "r": han.world.rep.duns,
            "m": ids.mac(),
            "c": ids.install_code(),
            "s": status,
            "a": add_id,
            "rm": remove_id,
        },
    )
    return add_id, remove_id, esiid


async def make_message(han: Any, category: str, status: str, esiid: str) -> str:
    reference = ("C9" if category in ("CLE", "CAL", "CSM") else "R9") + "".join(
        random.choices("0123456789", k=11)
    )
    await han.connection.execute(
        text(
            "INSERT INTO han_messages (reference_id, category, esiid, meter_number, tdsp_duns,"
            " rep_duns, se_id, payload, status, status_at) VALUES (:ref, :cat, :e, 'M1', :t, :r,"
            " 1, '{}', :s, now())"
        ),
        {
            "ref": reference,
            "cat": category,
            "e": esiid,
            "t": han.world.tdsp.duns,
            "r": han.world.rep.duns,
            "s": status,
        },
    )
    return reference


@pytest.fixture
def tdsp_headers(han: Any, make_token: Any) -> dict[str, str]:
    token = make_token("tdsp", han.world.tdsp.duns, client_id=han.world.tdsp.client_id)
    return {"Authorization": f"Bearer {token}"}


async def device_status(han: Any, add_id: str) -> str:
    status: str = await han.connection.scalar(
        text("SELECT status FROM han_devices WHERE add_request_id = :a"), {"a": add_id}
    )
    return status


async def refusals(han: Any, reference: str) -> int:
    count: int = await han.connection.scalar(
        text("SELECT count(*) FROM han_refused_reports WHERE reference_id = :r"), {"r": reference}
    )
    return count


async def test_every_device_transition_is_applied_or_refused_as_seed_004_says(
    han: Any, ids: Any, tdsp_headers: dict[str, str]
) -> None:
    mismatches = []
    esiid = await han.add_esiid()
    async with han.client() as client:
        for current in DEVICE_STATUSES:
            phases = ["add", "remove"] if current in REMOVE_PHASE else ["add"]
            for phase, reported in itertools.product(phases, DEVICE_STATUSES):
                add_id, remove_id, _ = await make_device(han, current, ids, esiid)
                request_id = add_id if phase == "add" else remove_id
                response = await client.post(
                    "/v1/tdsp/status",
                    json={"request_id": request_id, "status": reported},
                    headers=tdsp_headers,
                )
                after = await device_status(han, add_id)
                if reported == current:
                    outcome = (response.status_code, response.json()["applied"], after)
                    expected: tuple[Any, ...] = (200, False, current)
                elif reported in DEVICE_ALLOWED.get((current, phase), set()):
                    outcome = (response.status_code, response.json()["applied"], after)
                    expected = (200, True, reported)
                else:
                    outcome = (
                        response.status_code,
                        response.json()["error"],
                        after,
                        await refusals(han, request_id),
                    )
                    expected = (409, "invalid_transition", current, 1)
                if outcome != expected:
                    mismatches.append((current, phase, reported, outcome, expected))
    assert mismatches == []


async def test_an_applied_device_report_lands_in_the_history(
    han: Any, ids: Any, tdsp_headers: dict[str, str]
) -> None:
    add_id, _, _ = await make_device(han, "Add Acknowledged", ids)
    when = datetime(2030, 5, 6, 7, 8, 9, tzinfo=UTC)
    async with han.client() as client:
        response = await client.post(
            "/v1/tdsp/status",
            json={
                "request_id": add_id,
                "status": "Meter Ready",
                "description": "meter firmware ready",
                "timestamp": when.isoformat(),
            },
            headers=tdsp_headers,
        )
    assert response.json() == {"request_id": add_id, "status": "Meter Ready", "applied": True}
    row = (
        await han.connection.execute(
            text(
                "SELECT status, description, reported_by, status_at FROM han_device_history"
                " WHERE request_id = :a ORDER BY id DESC LIMIT 1"
            ),
            {"a": add_id},
        )
    ).one()
    assert tuple(row) == ("Meter Ready", "meter firmware ready", "tdsp", when)


async def test_every_message_transition_is_applied_or_refused(
    han: Any, tdsp_headers: dict[str, str]
) -> None:
    esiid = await han.add_esiid()
    mismatches = []
    async with han.client() as client:
        for category in CATEGORIES:
            reachable = (
                CODES if category == "LCE" else [c for c in CODES if c not in ("STR", "OPT")]
            )
            for current, reported in itertools.product(reachable, CODES):
                reference = await make_message(han, category, current, esiid)
                response = await client.post(
                    "/v1/tdsp/status",
                    json={"request_id": reference, "status": reported},
                    headers=tdsp_headers,
                )
                after = await han.connection.scalar(
                    text("SELECT status FROM han_messages WHERE reference_id = :r"),
                    {"r": reference},
                )
                if reported == current:
                    expected: tuple[Any, ...] = (200, current)
                elif reported in message_allowed(category, current):
                    expected = (200, reported)
                else:
                    expected = (409, current)
                if (response.status_code, after) != expected:
                    mismatches.append((category, current, reported, response.status_code, after))
    assert mismatches == []


async def test_device_level_message_reports(
    han: Any, ids: Any, tdsp_headers: dict[str, str]
) -> None:
    _, _, esiid = await make_device(han, "Device Added", ids)
    mac = await han.connection.scalar(
        text("SELECT mac_address FROM han_devices WHERE esiid = :e"), {"e": esiid}
    )
    reference = await make_message(han, "STM", "PEN", esiid)

    async def send(status: str, device: str) -> int:
        response = await client.post(
            "/v1/tdsp/status",
            json={"request_id": reference, "status": status, "device_mac": device},
            headers=tdsp_headers,
        )
        return int(response.status_code)

    async with han.client() as client:
        assert await send("ACK", mac) == 409  # a device track starts once the meter has it
        assert await send("STR", mac) == 409  # only load control events start
        assert await send("CON", mac) == 200
        assert await send("CON", mac) == 200  # a repeat changes nothing
        assert await send("FLR", mac) == 409  # confirmed is final for a text message
        assert await send("CON", "FFEEDDCCBBAA0099") == 409  # never on this ESI ID
        assert await send("CON", "not-a-mac") == 422
    rows = (
        await han.connection.execute(
            text(
                "SELECT l.device_mac, l.status_code FROM han_message_status_log l"
                " JOIN han_messages m ON m.id = l.message_id WHERE m.reference_id = :r"
            ),
            {"r": reference},
        )
    ).all()
    assert [tuple(r) for r in rows] == [(mac, "CON")]
    assert (
        await han.connection.scalar(
            text("SELECT status FROM han_messages WHERE reference_id = :r"), {"r": reference}
        )
        == "PEN"
    )  # the message's own status is separate from its devices'
    assert await refusals(han, reference) == 5


async def test_callback_authentication_and_territory(
    han: Any, ids: Any, make_token: Any, tdsp_headers: dict[str, str]
) -> None:
    add_id, _, _ = await make_device(han, "Add Acknowledged", ids)
    body = {"request_id": add_id, "status": "Add Pending"}
    other_tdsp = make_token("tdsp", han.world.other_tdsp.duns)
    rep = make_token("rep", han.world.rep.duns)
    async with han.client() as client:
        assert (await client.post("/v1/tdsp/status", json=body)).status_code == 401
        response = await client.post(
            "/v1/tdsp/status", json=body, headers={"Authorization": f"Bearer {rep}"}
        )
        assert response.status_code == 403
        foreign = await client.post(
            "/v1/tdsp/status", json=body, headers={"Authorization": f"Bearer {other_tdsp}"}
        )
        unknown = await client.post(
            "/v1/tdsp/status",
            json={**body, "request_id": "R000000000000"},
            headers={"Authorization": f"Bearer {other_tdsp}"},
        )
        assert foreign.status_code == unknown.status_code == 404
        assert foreign.json()["detail"].replace(add_id, "X") == unknown.json()["detail"].replace(
            "R000000000000", "X"
        )
        assert await device_status(han, add_id) == "Add Acknowledged"
        bad = await client.post(
            "/v1/tdsp/status", json={**body, "status": "Installed"}, headers=tdsp_headers
        )
        assert bad.status_code == 422 and "not a HAN device status" in bad.json()["detail"]
        misplaced = await client.post(
            "/v1/tdsp/status", json={**body, "device_mac": ids.mac()}, headers=tdsp_headers
        )
        assert misplaced.status_code == 422
        malformed = await client.post(
            "/v1/tdsp/status", json={**body, "request_id": "x"}, headers=tdsp_headers
        )
        assert malformed.status_code == 422
    assert await refusals(han, add_id) == 2
