"""A head-end outage delays requests and loses none; each is delivered exactly once."""

from __future__ import annotations

import asyncio
from typing import Any

from meterhub_headend_sim.app import create_app as create_sim_app
from meterhub_headend_sim.config import Mode, SimConfig
from sqlalchemy import text


async def outbox_rows(live: Any, keys: list[str]) -> dict[str, tuple[str, int]]:
    async with live.engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT idempotency_key, state, attempts FROM han_outbox"
                    " WHERE idempotency_key = ANY(:k)"
                ),
                {"k": keys},
            )
        ).all()
    return {row[0]: (row[1], row[2]) for row in rows}


async def test_a_silent_head_end_delays_but_loses_nothing(fresh_sim: Any, ids: Any) -> None:
    live = fresh_sim
    await live.sim(mode="silent")
    first, second = await live.add_esiid(), await live.add_esiid()
    devices = [
        (
            await live.call(
                "ProvisionDevice", EsiId=esiid, MacAddress=ids.mac(), InstallCode=ids.install_code()
            )
        ).RequestId
        for esiid in (first, first, second)
    ]
    event = await live.call(
        "SendLoadControlEvent",
        EsiId=second,
        DeviceClass=4,
        DurationInMinutes=60,
        CriticalityLevel=2,
    )
    cancel = await live.call("CancelLoadControlEvent", RequestId=event.RequestId)
    texts = [
        (await live.call("SendTextMessage", EsiId=first, Text=f"notice {n}")).RequestId
        for n in range(3)
    ]
    messages = [event.RequestId, cancel.CancellationId, *texts]
    keys = devices + messages

    async def retried() -> bool:
        rows = await outbox_rows(live, keys)
        # The first row of each ESI ID has been tried (and failed) more than once.
        return rows[devices[0]][1] >= 2 and rows[devices[2]][1] >= 2

    await live.wait_for(retried, within=10, what="retries during the outage")
    rows = await outbox_rows(live, keys)
    assert {state for state, _ in rows.values()} == {"pending"}
    for request_id in devices:
        assert await live.device_status(request_id) == "Add Acknowledged"
    assert [await live.sim_request(key) for key in keys] == [None] * len(keys)

    await live.sim(mode="ack")
    for request_id in devices:
        await live.wait_device(request_id, "Device Added", within=20)
    for reference in messages:
        await live.wait_message(reference, "CON", within=20)

    rows = await outbox_rows(live, keys)
    assert {state for state, _ in rows.values()} == {"delivered"}
    received = {key: await live.sim_request(key) for key in keys}
    assert {key: r["receipts"] for key, r in received.items() if r} == dict.fromkeys(keys, 1)
    # Per ESI ID, the head-end got the requests in the order the REP made them.
    order = [
        received[k]["received_at"] for k in (devices[2], event.RequestId, cancel.CancellationId)
    ]
    assert order == sorted(order)
    first_order = [received[k]["received_at"] for k in (devices[0], devices[1], *texts)]
    assert first_order == sorted(first_order)


async def test_a_stopped_head_end_that_comes_back_gets_each_request_once(
    fresh_sim: Any, ids: Any, serve: Any
) -> None:
    live = fresh_sim
    world = live.world
    esiid = await live.add_esiid(tdsp_duns=world.other_tdsp.duns)
    added = await live.call(
        "ProvisionDevice", EsiId=esiid, MacAddress=ids.mac(), InstallCode=ids.install_code()
    )
    message = await live.call("SendTextMessage", EsiId=esiid, Text="back soon")

    async def tried_twice() -> bool:
        rows = await outbox_rows(live, [added.RequestId])
        return rows[added.RequestId][1] >= 2

    await live.wait_for(tried_twice, within=10, what="retries while the head-end is down")
    async with live.engine.connect() as conn:
        error = await conn.scalar(
            text("SELECT last_error FROM han_outbox WHERE idempotency_key = :k"),
            {"k": added.RequestId},
        )
    assert "unreachable" in error

    config = SimConfig(
        port=live.late_port,
        callback_url=f"{live.han_url}/v1/tdsp/status",
        delay_seconds=0.0,
        mode=Mode.ACK,
        bearer_token=live.make_token("tdsp", world.other_tdsp.duns),
    )
    late = serve(create_sim_app(config), live.late_port)
    await live.wait_device(added.RequestId, "Device Added", within=20)
    await live.wait_message(message.RequestId, "CON", within=20)
    simulator = late.server.config.app.state.simulator
    await asyncio.sleep(0.2)
    assert {k: r.receipts for k, r in simulator.requests.items()} == {
        added.RequestId: 1,
        message.RequestId: 1,
    }
