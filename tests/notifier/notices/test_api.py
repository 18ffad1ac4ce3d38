"""The notice API: create, the advance-notice rule, update, cancel, list, search, feed."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from fastapi import FastAPI
from lxml import etree
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from meterhub_common.models.notifier import MaintenanceWindow, NoticeThread, OutboxMail
from meterhub_notifier.background import send_reminders

from ..conftest import FakeClock

ATOM = "{http://www.w3.org/2005/Atom}"


def planned(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "notice_type": "planned_outage",
        "short_description": "Saturday maintenance of the FTPS site and the API",
        "long_description": "Database upgrade. FTPS logins and API reads are refused meanwhile.",
        "affected_services": ["FTPS", "API"],
        "starts_at": "2024-03-09T02:00:00",
        "ends_at": "2024-03-09T06:00:00",
        "action_required": "Retry FTPS pulls after 6:00 AM.",
    }
    body.update(overrides)
    return body


async def test_planned_outage_three_business_days_ahead_is_issued(
    client: httpx.AsyncClient, operator: dict[str, str], session: AsyncSession
) -> None:
    response = await client.post("/v1/notices", json=planned(), headers=operator)
    assert response.status_code == 201, response.text
    notice = response.json()
    assert notice["notice_id"] == "M-A030524-01"
    assert notice["thread"] == "M-A030524"
    assert notice["starts_at"] == "2024-03-09T02:00:00-06:00"
    assert notice["days_affected"] == "Saturday, March 9, 2024, 2:00 AM CST to 6:00 AM CST"
    assert notice["outside_maintenance_window"] is False
    assert notice["issued_by"] == "ops-console"
    assert notice["listservs"] == ["RMS", "AMWG"]
    assert notice["text"].index("NOTICE DATE: March 5, 2024") == 0
    mails = (await session.execute(select(OutboxMail))).scalars().all()
    assert sorted(m.recipient for m in mails) == [
        "amwg-archive@lists.market.test",
        "amwg@lists.market.test",
        "rms@lists.market.test",
    ]
    window = (await session.execute(select(MaintenanceWindow))).scalar_one()
    assert window.services == ["FTPS", "API"]
    assert window.starts_at == datetime(2024, 3, 9, 8, 0, tzinfo=UTC)


async def test_short_notice_is_refused_with_the_earliest_allowed_start(
    client: httpx.AsyncClient, operator: dict[str, str], clock: FakeClock
) -> None:
    clock.set(datetime.fromisoformat("2024-03-06T09:00:00-06:00"))  # Wednesday
    response = await client.post("/v1/notices", json=planned(), headers=operator)
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "unprocessable"
    assert "3 business days" in body["detail"]
    # Thursday, Friday, Monday: Tuesday after the spring-forward weekend, in CDT.
    assert body["earliest_allowed_start"] == "2024-03-12T00:00:00-05:00"
    emergency = await client.post("/v1/notices", json=planned(emergency=True), headers=operator)
    assert emergency.status_code == 201
    assert emergency.json()["emergency"] is True
    # Fifteen minutes or less needs no advance notice (seed 002: "greater than 15 minutes").
    short = planned(starts_at="2024-03-09T02:00:00", ends_at="2024-03-09T02:15:00")
    assert (await client.post("/v1/notices", json=short, headers=operator)).status_code == 201


async def test_holiday_counts_against_the_notice(
    client: httpx.AsyncClient, operator: dict[str, str], clock: FakeClock
) -> None:
    clock.set(datetime.fromisoformat("2024-03-26T09:00:00-05:00"))  # Tuesday before Good Friday
    body = planned(starts_at="2024-03-30T02:00:00", ends_at="2024-03-30T12:00:00")
    response = await client.post("/v1/notices", json=body, headers=operator)
    assert response.status_code == 422
    assert response.json()["earliest_allowed_start"] == "2024-04-02T00:00:00-05:00"


async def test_default_window_is_the_next_allowed_saturday(
    client: httpx.AsyncClient, operator: dict[str, str], clock: FakeClock
) -> None:
    clock.set(datetime.fromisoformat("2024-03-06T09:00:00-06:00"))  # Wednesday: not this Saturday
    body = planned()
    del body["starts_at"], body["ends_at"]
    response = await client.post("/v1/notices", json=body, headers=operator)
    assert response.status_code == 201, response.text
    notice = response.json()
    assert (notice["starts_at"], notice["ends_at"]) == (
        "2024-03-16T02:00:00-05:00",
        "2024-03-16T12:00:00-05:00",
    )
    outside = planned(starts_at="2024-03-12T22:00:00", ends_at="2024-03-12T23:30:00")
    response = await client.post("/v1/notices", json=outside, headers=operator)
    assert response.json()["outside_maintenance_window"] is True


async def test_writing_needs_an_operator_and_reading_any_client(
    client: httpx.AsyncClient, operator: dict[str, str], rep: dict[str, str]
) -> None:
    assert (await client.post("/v1/notices", json=planned())).status_code == 401
    assert (await client.post("/v1/notices", json=planned(), headers=rep)).status_code == 403
    created = await client.post("/v1/notices", json=planned(), headers=operator)
    assert created.status_code == 201
    assert (await client.get("/v1/notices", headers=rep)).json()["total"] == 1
    assert (await client.get("/v1/notices")).status_code == 401
    patch = {"long_description": "x"}
    assert (
        await client.patch("/v1/notices/M-A030524-01", json=patch, headers=rep)
    ).status_code == 403


async def test_invalid_requests_say_what_is_wrong(
    client: httpx.AsyncClient, operator: dict[str, str]
) -> None:
    no_services = planned(affected_services=[])
    response = await client.post("/v1/notices", json=no_services, headers=operator)
    assert response.status_code == 422
    assert "affected service" in response.json()["detail"]
    gap = planned(starts_at="2024-03-10T02:30:00", ends_at="2024-03-10T05:00:00", emergency=True)
    response = await client.post("/v1/notices", json=gap, headers=operator)
    assert response.status_code == 422
    assert "does not exist in Central time" in response.json()["detail"]
    response = await client.post("/v1/notices", json=planned(listservs=["NOPE"]), headers=operator)
    assert response.status_code == 422
    assert "unknown listserv" in response.json()["detail"]
    assert (await client.get("/v1/notices/M-Z010101-01", headers=operator)).status_code == 404
    assert (await client.get("/v1/notices/not-an-id", headers=operator)).status_code == 400


async def test_threads_follow_ups_and_cancellation(
    client: httpx.AsyncClient, operator: dict[str, str], session: AsyncSession, clock: FakeClock
) -> None:
    first = (await client.post("/v1/notices", json=planned(), headers=operator)).json()
    general = {
        "notice_type": "general",
        "short_description": "New FTPS host key",
        "long_description": "The FTPS certificate is renewed on 1 April.",
    }
    other = (await client.post("/v1/notices", json=general, headers=operator)).json()
    assert other["notice_id"] == "M-B030524-01"
    assert other["days_affected"] == "Not applicable"

    clock.advance(hours=2)
    update = {"ends_at": "2024-03-09T08:00:00", "long_description": "The upgrade needs longer."}
    response = await client.patch(
        f"/v1/notices/{first['notice_id']}", json=update, headers=operator
    )
    assert response.status_code == 201, response.text
    second = response.json()
    assert second["notice_id"] == "M-A030524-02"
    assert second["notice_type"] == "update"
    assert second["ends_at"] == "2024-03-09T08:00:00-06:00"
    assert second["short_description"] == first["short_description"]
    assert second["action_required"] == first["action_required"]
    window = (await session.execute(select(MaintenanceWindow))).scalar_one()
    assert window.ends_at == datetime(2024, 3, 9, 14, 0, tzinfo=UTC)

    # Moving the start too close is refused like a new notice would be.
    clock.set(datetime.fromisoformat("2024-03-07T09:00:00-06:00"))
    moved = {"starts_at": "2024-03-08T22:00:00", "ends_at": "2024-03-09T04:00:00"}
    response = await client.patch("/v1/notices/M-A030524-02", json=moved, headers=operator)
    assert response.status_code == 422
    # Issued Thursday: Friday, Monday, Tuesday, so Wednesday 13 March at the earliest.
    assert response.json()["earliest_allowed_start"] == "2024-03-13T00:00:00-05:00"

    response = await client.post(
        "/v1/notices/M-A030524-01/cancel", json={"reason": "Vendor postponed."}, headers=operator
    )
    assert response.status_code == 201
    cancel = response.json()
    assert cancel["notice_id"] == "M-A030524-03"
    assert cancel["notice_type"] == "cancellation"
    assert cancel["cancels"] == "M-A030524-01"
    assert cancel["thread_status"] == "cancelled"
    assert cancel["text"].startswith(
        "CANCELLATION: Meterhub is cancelling the following notice: M-A030524-01."
    )
    assert "Reason for the cancellation: Vendor postponed." in cancel["text"]
    await session.refresh(window)
    assert window.cancelled_at is not None
    response = await client.patch("/v1/notices/M-A030524-01", json=update, headers=operator)
    assert response.status_code == 409
    thread = (
        await session.execute(select(NoticeThread).where(NoticeThread.code == "M-A030524"))
    ).scalar_one()
    assert (thread.last_sequence, thread.reminder_due_at) == (3, None)


async def test_list_search_get_and_feed(
    client: httpx.AsyncClient, operator: dict[str, str], rep: dict[str, str]
) -> None:
    await client.post("/v1/notices", json=planned(), headers=operator)
    han = planned(
        notice_type="unplanned_outage",
        short_description="HAN messages delayed",
        long_description="Price messages to in-home displays are queued.",
        affected_services=["HAN"],
        starts_at=None,
        ends_at=None,
        action_required=None,
    )
    created = await client.post("/v1/notices", json=han, headers=operator)
    assert created.status_code == 201, created.text
    assert created.json()["starts_at"] == "2024-03-05T10:00:00-06:00"

    page = (await client.get("/v1/notices?service=HAN", headers=rep)).json()
    assert [n["notice_id"] for n in page["items"]] == ["M-B030524-01"]
    page = (await client.get("/v1/notices?notice_type=planned_outage", headers=rep)).json()
    assert [n["notice_id"] for n in page["items"]] == ["M-A030524-01"]
    found = (await client.get("/v1/notices/search?q=database upgrade", headers=rep)).json()
    assert [n["notice_id"] for n in found["items"]] == ["M-A030524-01"]
    found = (await client.get("/v1/notices/search?q=M-B030524", headers=rep)).json()
    assert [n["notice_id"] for n in found["items"]] == ["M-B030524-01"]
    one = (await client.get("/v1/notices/m-b030524-01", headers=rep)).json()
    assert "LONG DESCRIPTION: Affected services: HAN." in one["text"]

    feed = await client.get("/v1/notices/feed")
    assert feed.status_code == 200
    assert feed.headers["content-type"].startswith("application/atom+xml")
    root = etree.fromstring(feed.content)
    assert root.tag == f"{ATOM}feed"
    ids = [e.findtext(f"{ATOM}id") for e in root.iter(f"{ATOM}entry")]
    assert ids == ["urn:meterhub:notice:M-B030524-01", "urn:meterhub:notice:M-A030524-01"]
    link = root.find(f"{ATOM}entry/{ATOM}link").get("href")
    assert link == "https://notices.meterhub.test/v1/notices/M-B030524-01"


async def test_reminder_follows_a_planned_notice_once(
    app: FastAPI, client: httpx.AsyncClient, operator: dict[str, str], clock: FakeClock
) -> None:
    await client.post("/v1/notices", json=planned(), headers=operator)
    database, settings = app.state.database, app.state.settings
    woken: list[bool] = []
    assert await send_reminders(database, settings, clock, lambda: woken.append(True)) == 0
    # Due 24 hours before the start: Friday 8 March 02:00 CST.
    clock.set(datetime.fromisoformat("2024-03-08T02:01:00-06:00"))
    assert await send_reminders(database, settings, clock, lambda: woken.append(True)) == 1
    assert woken == [True]
    assert await send_reminders(database, settings, clock, lambda: None) == 0
    reminder = (await client.get("/v1/notices/M-A030524-02", headers=operator)).json()
    assert reminder["reminder"] is True
    assert reminder["notice_type"] == "planned_outage"
    assert "NOTICE TYPE: M-A030524-02 Planned Outage Reminder" in reminder["text"]
