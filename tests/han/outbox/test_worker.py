"""The outbox worker on the test's connection, with a scripted head-end."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import pytest
from sqlalchemy import text

from meterhub_han.outbox import repository as repo
from meterhub_han.outbox.headend import Delivery, Result
from meterhub_han.outbox.worker import OutboxWorker, backoff_seconds
from meterhub_han.settings import HanSettings


class ScriptedHeadEnds:
    """Answers every delivery with ``result`` and remembers what it was asked."""

    def __init__(self, result: Result = Result.ACCEPTED, detail: str | None = None) -> None:
        self.result = result
        self.detail = detail
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    async def start(self) -> None:
        return None

    async def deliver(self, tdsp_duns: str, operation: str, payload: dict[str, Any]) -> Delivery:
        self.calls.append((tdsp_duns, operation, payload))
        return Delivery(self.result, self.detail)


@pytest.fixture
def worker_settings(common_settings: dict[str, object]) -> HanSettings:
    return HanSettings(
        **common_settings,  # type: ignore[arg-type]
        outbox_enabled=False,
        outbox_concurrency=1,  # one connection in these tests: deliveries one at a time
        retry_initial_seconds=30,
        retry_max_seconds=60,
    )


def worker(han: Any, settings: HanSettings, headends: ScriptedHeadEnds) -> OutboxWorker:
    return OutboxWorker(han.app.state.database, settings, headends)  # type: ignore[arg-type]


def test_backoff_grows_exponentially_with_jitter_and_is_capped(
    worker_settings: HanSettings,
) -> None:
    delays = [backoff_seconds(n, worker_settings) for n in (1, 2, 3, 10)]
    assert 15 <= delays[0] <= 30
    assert 30 <= delays[1] <= 60
    assert 30 <= delays[2] <= 60  # 120 capped at 60
    assert 30 <= delays[3] <= 60


async def test_rows_of_one_esiid_go_out_in_order(
    han: Any, ids: Any, worker_settings: HanSettings
) -> None:
    first, second = await han.add_esiid(), await han.add_esiid()
    client = han.zeep()
    a1 = await client.ProvisionDevice(
        EsiId=first, MacAddress=ids.mac(), InstallCode=ids.install_code()
    )
    a2 = await client.SendTextMessage(EsiId=first, Text="after the device")
    b1 = await client.ProvisionDevice(
        EsiId=second, MacAddress=ids.mac(), InstallCode=ids.install_code()
    )
    mine = {a1.RequestId, a2.RequestId, b1.RequestId}
    headends = ScriptedHeadEnds()
    outbox = worker(han, worker_settings, headends)

    async def one_pass() -> list[tuple[str, str, dict[str, Any]]]:
        done = len(headends.calls)
        await outbox.run_once()
        return [c for c in headends.calls[done:] if c[2]["RequestId"] in mine]

    first_pass = await one_pass()
    assert [c[2]["RequestId"] for c in first_pass] == [a1.RequestId, b1.RequestId]
    second_pass = await one_pass()
    assert [(c[1], c[2]["RequestId"]) for c in second_pass] == [("SendMessage", a2.RequestId)]
    assert second_pass[0][2]["DisplayMessage"]["Message"] == "after the device"
    assert await one_pass() == []
    states = (
        await han.connection.execute(
            text("SELECT idempotency_key, state, attempts FROM han_outbox WHERE esiid = ANY(:e)"),
            {"e": [first, second]},
        )
    ).all()
    assert sorted(map(tuple, states)) == sorted(
        [
            (a1.RequestId, "delivered", 1),
            (a2.RequestId, "delivered", 1),
            (b1.RequestId, "delivered", 1),
        ]
    )
    history = await client.GetDeviceHistory(EsiId=first)
    assert [(e.Status, e.ReportedBy) for e in history.Entry] == [
        ("Add Acknowledged", "rep"),
        ("Add Acknowledged", "tdsp"),  # seed 004: the TDSP acknowledging is still Add Acknowledged
    ]
    status = await client.GetMessageStatus(Id=a2.RequestId)
    assert [r.StatusCode for r in status.Row] == ["RQA", "ACK"]


async def test_a_failed_delivery_stays_pending_with_backoff(
    han: Any, ids: Any, worker_settings: HanSettings
) -> None:
    esiid = await han.add_esiid()
    answer = await han.zeep().ProvisionDevice(
        EsiId=esiid, MacAddress=ids.mac(), InstallCode=ids.install_code()
    )
    headends = ScriptedHeadEnds(Result.RETRY, "head-end answered HTTP 503")
    outbox = worker(han, worker_settings, headends)
    await outbox.run_once()
    assert [c[2]["RequestId"] for c in headends.calls].count(answer.RequestId) == 1
    row = (
        await han.connection.execute(
            text(
                "SELECT state, attempts, last_error, next_attempt_at - now() > interval '10 s'"
                " FROM han_outbox WHERE idempotency_key = :r"
            ),
            {"r": answer.RequestId},
        )
    ).one()
    assert tuple(row) == ("pending", 1, "head-end answered HTTP 503", True)
    await outbox.run_once()  # not due yet: not delivered again
    assert [c[2]["RequestId"] for c in headends.calls].count(answer.RequestId) == 1
    listing = await han.zeep().GetDevices(EsiId=esiid)
    assert listing.Device[0].Status == "Add Acknowledged"


async def test_a_rejection_is_final_and_reported(
    han: Any, ids: Any, worker_settings: HanSettings
) -> None:
    esiid = await han.add_esiid()
    client = han.zeep()
    device = await client.ProvisionDevice(
        EsiId=esiid, MacAddress=ids.mac(), InstallCode=ids.install_code()
    )
    message = await client.SendTextMessage(EsiId=esiid, Text="hello")
    outbox = worker(
        han, worker_settings, ScriptedHeadEnds(Result.REJECTED, "meter not HAN capable")
    )
    await outbox.run_once()
    await outbox.run_once()
    listing = await client.GetDevices(EsiId=esiid)
    assert (listing.Device[0].Status, listing.SlotsUsed) == ("Add Rejected", 0)
    history = await client.GetDeviceHistory(EsiId=esiid)
    assert history.Entry[-1].Description == "Rejected by TDSP: meter not HAN capable"
    status = await client.GetMessageStatus(Id=message.RequestId)
    assert status.Receipt.StatusCode == "FLR"
    assert status.StatusDesc == "Rejected by TDSP: meter not HAN capable"
    states = await han.connection.scalar(
        text("SELECT array_agg(state ORDER BY id) FROM han_outbox WHERE esiid = :e"), {"e": esiid}
    )
    assert states == ["rejected", "rejected"]
    assert device.RequestId


async def test_a_claimed_row_is_leased(han: Any, ids: Any) -> None:
    esiid = await han.add_esiid()
    answer = await han.zeep().ProvisionDevice(
        EsiId=esiid, MacAddress=ids.mac(), InstallCode=ids.install_code()
    )
    async with han.app.state.database.sessionmaker() as session:
        claimed = await repo.claim(session, limit=10, lease_seconds=60)
        again = await repo.claim(session, limit=10, lease_seconds=60)
    mine = [row for row in claimed if row.idempotency_key == answer.RequestId]
    assert len(mine) == 1 and mine[0].attempts == 1
    assert mine[0].payload["InstallCode"] == json.loads(json.dumps(mine[0].payload))["InstallCode"]
    assert all(row.idempotency_key != answer.RequestId for row in again)


async def _provision_six(han: Any, ids: Any) -> set[str]:
    """Six REP calls, one per new ESI ID: the request ids now queued in the outbox."""
    client = han.zeep()
    mine = set()
    for _ in range(6):
        answer = await client.ProvisionDevice(
            EsiId=await han.add_esiid(), MacAddress=ids.mac(), InstallCode=ids.install_code()
        )
        mine.add(answer.RequestId)
    return mine


async def test_while_rep_calls_are_served_the_worker_delivers_at_a_trickle(
    han: Any, ids: Any, worker_settings: HanSettings
) -> None:
    mine = await _provision_six(han, ids)
    settings = worker_settings.model_copy(
        update={"outbox_busy_batch": 2, "outbox_busy_pause_seconds": 0.3}
    )
    headends = ScriptedHeadEnds()
    busy = True
    outbox = OutboxWorker(han.app.state.database, settings, headends, busy=lambda: busy)  # type: ignore[arg-type]
    task = asyncio.create_task(outbox.run())

    def delivered() -> int:
        return sum(1 for c in headends.calls if c[2]["RequestId"] in mine)

    try:
        await asyncio.sleep(0.45)
        assert 2 <= delivered() <= 4  # one or two paced passes of two
        busy = False
        outbox.wake()
        for _ in range(100):
            if delivered() == 6:
                break
            await asyncio.sleep(0.02)
        assert delivered() == 6
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_a_batch_claimed_before_a_burst_goes_out_at_the_busy_pace(
    han: Any, ids: Any, worker_settings: HanSettings
) -> None:
    mine = await _provision_six(han, ids)
    settings = worker_settings.model_copy(
        update={"outbox_busy_batch": 1, "outbox_busy_pause_seconds": 0.2}
    )
    headends = ScriptedHeadEnds()
    busy = True
    outbox = OutboxWorker(han.app.state.database, settings, headends, busy=lambda: busy)  # type: ignore[arg-type]

    def delivered() -> int:
        return sum(1 for c in headends.calls if c[2]["RequestId"] in mine)

    # One full batch, as claimed by a pass that began while the endpoint was quiet.
    task = asyncio.create_task(outbox.run_once(limit=64))
    try:
        await asyncio.sleep(0.3)
        assert 1 <= delivered() <= 2  # one every 0.2 s while REP calls keep coming
        busy = False
        await asyncio.wait_for(task, timeout=5)
        assert delivered() == 6
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_the_endpoint_counts_as_busy_only_under_bulk_calls(han: Any) -> None:
    soap = han.app.state.soap
    assert soap.busy() is False
    for _ in range(5):
        await soap.handle(b"<not-soap/>", None)
    assert soap.busy() is False  # a few calls a second are not a burst
    for _ in range(30):
        await soap.handle(b"<not-soap/>", None)
    assert soap.busy() is True
