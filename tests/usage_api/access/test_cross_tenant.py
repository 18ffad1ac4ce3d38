"""Cross-tenant reads: whatever a caller may not see answers 404, exactly like an unknown ESI ID.

One ESI ID in Oncor's territory, served by REP A from 2026-03-01 to 2026-09-01 and by REP B
since; usage on 2025-06-01 (over 13 months before TODAY), 2026-02-15 (before A), 2026-05-01
(A's) and 2026-10-01 (B's).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime

import httpx
import pytest

from tests.usage_api.conftest import (
    CENTERPOINT,
    ONCOR,
    REP_A,
    REP_B,
    TODAY,
    Builder,
    bearer,
    new_esiid,
)

OLD, BEFORE_A, DURING_A, DURING_B = (
    date(2025, 6, 1),
    date(2026, 2, 15),
    date(2026, 5, 1),
    date(2026, 10, 1),
)


@dataclass
class Market:
    esiid: str
    unknown: str
    customer: uuid.UUID


@pytest.fixture
async def market(data: Builder) -> Market:
    esiid = await data.esiid()
    await data.service(esiid, REP_A, date(2026, 3, 1), date(2026, 9, 1))
    await data.service(esiid, REP_B, date(2026, 9, 1))
    for day in (OLD, BEFORE_A, DURING_A, DURING_B):
        await data.intervals(esiid, day)
        await data.daily(esiid, day)
    await data.monthly(esiid, date(2026, 4, 3), date(2026, 5, 2))
    await data.monthly(esiid, date(2026, 9, 1), date(2026, 10, 1))
    customer = await data.customer(f"occupant-{uuid.uuid4().hex[:8]}")
    await data.link(customer, esiid, date(2026, 6, 1))
    return Market(esiid=esiid, unknown=new_esiid(), customer=customer)


def one_day(esiid: str, day: date) -> str:
    return f"/v1/esiids/{esiid}/intervals?start={day}&end={day}"


async def assert_hidden(
    client: httpx.AsyncClient, token: str, market: Market, path_for: str
) -> None:
    """The read of ``market.esiid`` answers like the same read of an ESI ID that does not exist."""
    hidden = await client.get(path_for.format(esiid=market.esiid), headers=bearer(token))
    unknown = await client.get(path_for.format(esiid=market.unknown), headers=bearer(token))
    assert hidden.status_code == 404, hidden.text
    assert unknown.status_code == 404
    assert hidden.json() == {"error": "not_found", "detail": f"ESI ID {market.esiid} was not found"}
    assert hidden.content.replace(market.esiid.encode(), b"X") == unknown.content.replace(
        market.unknown.encode(), b"X"
    )
    ignored = {"x-request-id", "ratelimit"}
    assert {k: v for k, v in hidden.headers.items() if k not in ignored} == {
        k: v for k, v in unknown.headers.items() if k not in ignored
    }


async def visible_days(
    client: httpx.AsyncClient, token: str, esiid: str, start: date, end: date
) -> list[str]:
    response = await client.get(
        f"/v1/esiids/{esiid}/intervals?start={start}&end={end}", headers=bearer(token)
    )
    assert response.status_code == 200, response.text
    return [d["operating_day"] for d in response.json()["days"]]


async def read_dates(
    client: httpx.AsyncClient, token: str, esiid: str, start: date, end: date
) -> list[str]:
    """Daily meter reads allow a long range in one request."""
    response = await client.get(
        f"/v1/esiids/{esiid}/daily-reads?start={start}&end={end}", headers=bearer(token)
    )
    assert response.status_code == 200, response.text
    return [r["read_date"] for r in response.json()["reads"]]


async def test_rep_sees_only_its_own_service_period(
    client: httpx.AsyncClient, market: Market, make_token
) -> None:
    rep_a = make_token("rep", REP_A)
    assert await visible_days(client, rep_a, market.esiid, DURING_A, DURING_A) == ["2026-05-01"]
    # Before its service start, after its end.
    await assert_hidden(client, rep_a, market, one_day("{esiid}", BEFORE_A))
    await assert_hidden(client, rep_a, market, one_day("{esiid}", DURING_B))
    # A range straddling the start shows only the days it served.
    days = await visible_days(client, rep_a, market.esiid, date(2026, 2, 1), date(2026, 3, 10))
    assert days == []
    days = await visible_days(client, rep_a, market.esiid, date(2026, 4, 25), date(2026, 5, 5))
    assert days == ["2026-05-01"]


async def test_rep_cannot_read_another_reps_esiid(
    client: httpx.AsyncClient, market: Market, make_token
) -> None:
    rep_b = make_token("rep", REP_B)
    assert await visible_days(client, rep_b, market.esiid, DURING_B, DURING_B) == ["2026-10-01"]
    await assert_hidden(client, rep_b, market, one_day("{esiid}", DURING_A))
    stranger = make_token("rep", "999999999")
    await assert_hidden(client, stranger, market, one_day("{esiid}", DURING_B))
    await assert_hidden(client, stranger, market, "/v1/esiids/{esiid}")
    await assert_hidden(
        client,
        stranger,
        market,
        f"/v1/esiids/{{esiid}}/daily-reads?start={DURING_B}&end={DURING_B}",
    )
    await assert_hidden(client, stranger, market, "/v1/esiids/{esiid}/monthly-usage")


async def test_each_endpoint_limits_a_rep_to_its_period(
    client: httpx.AsyncClient, market: Market, make_token
) -> None:
    rep_a = make_token("rep", REP_A)
    daily = await client.get(
        f"/v1/esiids/{market.esiid}/daily-reads?start=2026-01-01&end=2026-11-20",
        headers=bearer(rep_a),
    )
    assert [r["read_date"] for r in daily.json()["reads"]] == ["2026-05-01"]
    monthly = await client.get(f"/v1/esiids/{market.esiid}/monthly-usage", headers=bearer(rep_a))
    assert [u["period_start"] for u in monthly.json()["usage"]] == ["2026-04-03"]
    await assert_hidden(
        client, rep_a, market, f"/v1/esiids/{{esiid}}/daily-reads?start={DURING_B}&end={DURING_B}"
    )
    await assert_hidden(
        client, rep_a, market, "/v1/esiids/{esiid}/monthly-usage?start=2026-09-01&end=2026-11-01"
    )
    premise = await client.get(f"/v1/esiids/{market.esiid}", headers=bearer(rep_a))
    assert premise.status_code == 200
    assert premise.json()["meters"][0]["meter_number"] == "M1"


async def test_tdsp_sees_its_territory_only(
    client: httpx.AsyncClient, market: Market, make_token
) -> None:
    oncor = make_token("tdsp", ONCOR)
    days = await read_dates(client, oncor, market.esiid, OLD, TODAY)
    assert days == ["2025-06-01", "2026-02-15", "2026-05-01", "2026-10-01"]
    assert await visible_days(client, oncor, market.esiid, DURING_B, DURING_B) == ["2026-10-01"]
    centerpoint = make_token("tdsp", CENTERPOINT)
    await assert_hidden(client, centerpoint, market, one_day("{esiid}", DURING_B))
    await assert_hidden(client, centerpoint, market, "/v1/esiids/{esiid}")


async def test_customer_sees_its_link_for_13_months(
    client: httpx.AsyncClient, market: Market, data: Builder, make_token
) -> None:
    occupant = make_token("customer", entity_id=market.customer)
    assert await read_dates(client, occupant, market.esiid, DURING_A, DURING_B) == ["2026-10-01"]
    # Before its link's start.
    await assert_hidden(client, occupant, market, one_day("{esiid}", DURING_A))
    # A customer linked since 2024 still sees only the last 13 months.
    longtime = await data.customer(f"longtime-{uuid.uuid4().hex[:8]}")
    await data.link(longtime, market.esiid, date(2024, 1, 1))
    longtime_token = make_token("customer", entity_id=longtime)
    await assert_hidden(client, longtime_token, market, one_day("{esiid}", OLD))
    days = await read_dates(client, longtime_token, market.esiid, OLD, date(2026, 5, 31))
    assert days == ["2026-02-15", "2026-05-01"]
    # TODAY minus 13 months is 2025-10-20, the first day a customer may read.
    for day in (date(2025, 10, 19), date(2025, 10, 20)):
        await data.intervals(market.esiid, day)
    days = await visible_days(
        client, longtime_token, market.esiid, date(2025, 10, 1), date(2025, 10, 31)
    )
    assert days == ["2025-10-20"]
    # Someone else's account.
    stranger = make_token("customer", entity_id=await data.customer("stranger"))
    await assert_hidden(client, stranger, market, one_day("{esiid}", DURING_B))
    # Customers read the current version only.
    everything = await client.get(
        f"/v1/esiids/{market.esiid}/intervals?start={DURING_B}&end={DURING_B}&versions=all",
        headers=bearer(occupant),
    )
    assert everything.status_code == 403


async def test_csp_reads_only_under_an_accepted_unexpired_agreement(
    client: httpx.AsyncClient, market: Market, data: Builder, make_token
) -> None:
    csp = await data.entity("csp", "555666777")
    token = make_token("csp", "555666777", entity_id=csp)
    # No agreement.
    await assert_hidden(client, token, market, one_day("{esiid}", DURING_B))
    # Pending: not yet.
    pending = await data.agreement(
        csp, market.customer, market.esiid, date(2026, 9, 1), date(2027, 9, 1), status="pending"
    )
    await assert_hidden(client, token, market, one_day("{esiid}", DURING_B))
    # Accepted: the agreement's period, nothing before it.
    await data.execute(
        "UPDATE access_agreements SET status = 'accepted' WHERE id = :id", id=pending
    )
    assert await read_dates(client, token, market.esiid, DURING_A, DURING_B) == ["2026-10-01"]
    await assert_hidden(client, token, market, one_day("{esiid}", DURING_A))
    # Revoked by the customer: stops at once, even before a job updates the status.
    await data.execute(
        "UPDATE access_agreements SET revoked_at = :now WHERE id = :id",
        id=pending,
        now=datetime.now(UTC),
    )
    await assert_hidden(client, token, market, one_day("{esiid}", DURING_B))
    await data.execute("UPDATE access_agreements SET status = 'revoked' WHERE id = :id", id=pending)
    await assert_hidden(client, token, market, one_day("{esiid}", DURING_B))


async def test_csp_agreement_stops_the_day_it_expires(
    client: httpx.AsyncClient, market: Market, data: Builder, make_token
) -> None:
    csp = await data.entity("csp", "555666778")
    token = make_token("csp", "555666778", entity_id=csp)
    agreement = await data.agreement(csp, market.customer, market.esiid, date(2026, 8, 1), TODAY)
    # ends_on is exclusive: an agreement ending today has expired, status update or not.
    await assert_hidden(client, token, market, one_day("{esiid}", DURING_B))
    await data.execute(
        "UPDATE access_agreements SET ends_on = :end WHERE id = :id",
        id=agreement,
        end=date(2026, 11, 21),
    )
    assert await visible_days(client, token, market.esiid, DURING_B, DURING_B) == ["2026-10-01"]
    await data.execute(
        "UPDATE access_agreements SET status = 'expired' WHERE id = :id", id=agreement
    )
    await assert_hidden(client, token, market, one_day("{esiid}", DURING_B))


async def test_a_friend_reads_through_an_agreement(
    client: httpx.AsyncClient, market: Market, data: Builder, make_token
) -> None:
    friend = await data.customer(f"friend-{uuid.uuid4().hex[:8]}")
    token = make_token("customer", entity_id=friend)
    await assert_hidden(client, token, market, one_day("{esiid}", DURING_B))
    await data.agreement(friend, market.customer, market.esiid, date(2026, 6, 1), date(2027, 6, 1))
    assert await read_dates(client, token, market.esiid, DURING_A, DURING_B) == ["2026-10-01"]


async def test_regulator_reads_13_months_and_operator_nothing(
    client: httpx.AsyncClient, market: Market, make_token
) -> None:
    regulator = make_token("regulator")
    assert await read_dates(client, regulator, market.esiid, OLD, TODAY) == [
        "2026-02-15",
        "2026-05-01",
        "2026-10-01",
    ]
    await assert_hidden(client, regulator, market, one_day("{esiid}", OLD))
    operator = make_token("operator")
    await assert_hidden(client, operator, market, one_day("{esiid}", DURING_B))
    await assert_hidden(client, operator, market, "/v1/esiids/{esiid}")
    service = make_token("service")
    await assert_hidden(client, service, market, one_day("{esiid}", DURING_B))


async def test_a_rep_sees_48_months_back_and_no_further(
    client: httpx.AsyncClient, data: Builder, make_token
) -> None:
    esiid = await data.esiid()
    await data.service(esiid, REP_A, date(2020, 1, 1))
    await data.intervals(esiid, date(2022, 11, 19))
    await data.intervals(esiid, date(2022, 11, 21))
    token = make_token("rep", REP_A)
    days = await visible_days(client, token, esiid, date(2022, 11, 19), date(2022, 11, 22))
    assert days == ["2022-11-21"]  # TODAY minus 48 months is 2022-11-20
