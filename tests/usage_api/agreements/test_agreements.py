"""Agreements end to end: request, real mail (aiosmtpd), accept/decline/revoke, audit, expiry,
and the colleague's read endpoint honouring each state at once."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from tests.usage_api.agreements.conftest import Inbox, random_duns, unique
from tests.usage_api.conftest import TODAY, Builder, bearer

READ_DAY = TODAY - timedelta(days=10)
LINK_START = date(2025, 6, 1)


def client_for(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://usage.test")


class Market:
    """A premise with a customer, a CSP and a second customer (the friend), as tokens."""

    def __init__(self, data: Builder, make_token: Any) -> None:
        self.data = data
        self.make_token = make_token

    async def build(self, *, premise_type: str = "residential") -> Market:
        data = self.data
        self.esiid = await data.esiid(meters=("M1",))
        await data.execute(
            "UPDATE esiids SET premise_type = :t WHERE esiid = :e", t=premise_type, e=self.esiid
        )
        self.alice_name = unique("alice")
        self.alice = await data.customer(self.alice_name)
        await data.link(self.alice, self.esiid, LINK_START)
        self.bob_name = unique("bob")
        self.bob = await data.customer(self.bob_name)
        self.csp_duns = random_duns()
        self.csp_name = unique("EnergyWise")
        self.csp = await data.entity("csp", self.csp_duns, name=self.csp_name)
        self.csp_email = f"{self.csp_name}@csp.example"
        await data.execute(
            "UPDATE entities SET email = :m WHERE id = :id", m=self.csp_email, id=self.csp
        )
        await data.days(self.esiid, READ_DAY, READ_DAY + timedelta(days=1))
        self.csp_token = self.make_token("csp", self.csp_duns, entity_id=self.csp, client_id="csp")
        self.alice_token = self.make_token("customer", entity_id=self.alice, client_id="alice")
        self.bob_token = self.make_token("customer", entity_id=self.bob, client_id="bob")
        return self

    @property
    def alice_email(self) -> str:
        return f"{self.alice_name}@example.com"

    @property
    def bob_email(self) -> str:
        return f"{self.bob_name}@example.com"


@pytest.fixture
async def market(data: Builder, make_token: Any) -> Market:
    return await Market(data, make_token).build()


@pytest.fixture
def mail_app(app_factory: Any, inbox: Inbox) -> FastAPI:
    return app_factory(smtp_port=inbox.port, public_url="https://meterhub.example")


async def read_intervals(client: httpx.AsyncClient, token: str, esiid: str) -> httpx.Response:
    day = READ_DAY.isoformat()
    return await client.get(
        f"/v1/esiids/{esiid}/intervals?start={day}&end={day}", headers=bearer(token)
    )


async def request_agreement(
    client: httpx.AsyncClient, market: Market, months: int = 12, meter: str = "M1"
) -> httpx.Response:
    return await client.post(
        "/v1/agreements",
        json={"esiids": [{"esiid": market.esiid, "meter_number": meter}], "months": months},
        headers=bearer(market.csp_token),
    )


async def test_whole_lifecycle_with_real_mail(
    mail_app: FastAPI, market: Market, inbox: Inbox
) -> None:
    async with client_for(mail_app) as client:
        assert (await read_intervals(client, market.csp_token, market.esiid)).status_code == 404

        created = await request_agreement(client, market)
        assert created.status_code == 201, created.text
        agreement = created.json()["agreements"][0]
        agreement_id = agreement["id"]
        assert agreement["status"] == "pending"
        assert agreement["grantor_entity_id"] == str(market.alice)
        assert agreement["decider_entity_id"] == str(market.alice)
        assert agreement["data_from"] == LINK_START.isoformat()

        # The customer got a real mail through SMTP, with the id and how to answer.
        [asked] = inbox.to(market.alice_email)
        assert market.csp_name in asked["Subject"] and market.esiid in asked["Subject"]
        body = asked.get_content()
        assert f"https://meterhub.example/v1/agreements/{agreement_id}/accept" in body
        assert "12 months" in body

        # Pending grants nothing; the CSP cannot answer its own request.
        assert (await read_intervals(client, market.csp_token, market.esiid)).status_code == 404
        refused = await client.post(
            f"/v1/agreements/{agreement_id}/accept", headers=bearer(market.csp_token)
        )
        assert refused.status_code == 403

        listed = await client.get("/v1/agreements", headers=bearer(market.alice_token))
        assert [a["id"] for a in listed.json()["agreements"]] == [agreement_id]

        accepted = await client.post(
            f"/v1/agreements/{agreement_id}/accept", headers=bearer(market.alice_token)
        )
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["status"] == "accepted"
        assert accepted.json()["ends_on"] == "2027-11-20"
        [decision] = inbox.to(market.csp_email)
        assert "accepted" in decision["Subject"]

        granted = await read_intervals(client, market.csp_token, market.esiid)
        assert granted.status_code == 200, granted.text
        assert granted.json()["days"][0]["operating_day"] == READ_DAY.isoformat()

        revoked = await client.post(
            f"/v1/agreements/{agreement_id}/revoke",
            json={"reason": "changed my mind"},
            headers=bearer(market.alice_token),
        )
        assert revoked.status_code == 200
        assert revoked.json()["status"] == "revoked"
        # Revocation stops reads at once (no job in between).
        assert (await read_intervals(client, market.csp_token, market.esiid)).status_code == 404
        assert len(inbox.to(market.csp_email)) == 2

        again = await client.post(
            f"/v1/agreements/{agreement_id}/accept", headers=bearer(market.alice_token)
        )
        assert again.status_code == 409

        detail = (
            await client.get(f"/v1/agreements/{agreement_id}", headers=bearer(market.csp_token))
        ).json()
    steps = [(e["from_status"], e["to_status"], e["actor_entity_id"]) for e in detail["events"]]
    assert steps == [
        (None, "pending", str(market.csp)),
        ("pending", "accepted", str(market.alice)),
        ("accepted", "revoked", str(market.alice)),
    ]
    assert detail["events"][2]["reason"] == "changed my mind"
    assert [m["purpose"] for m in detail["mails"]] == ["request", "decision", "revocation"]
    assert all(m["status"] == "sent" for m in detail["mails"])


async def test_wrong_meter_number_is_answered_like_an_unknown_esiid(
    mail_app: FastAPI, market: Market, inbox: Inbox
) -> None:
    async with client_for(mail_app) as client:
        wrong_meter = await request_agreement(client, market, meter="M2")
        unknown = await client.post(
            "/v1/agreements",
            json={"esiids": [{"esiid": "10443720999999999", "meter_number": "M1"}], "months": 3},
            headers=bearer(market.csp_token),
        )
    assert wrong_meter.status_code == unknown.status_code == 404
    assert wrong_meter.json()["error"] == unknown.json()["error"] == "not_found"
    shape = wrong_meter.json()["detail"].replace(market.esiid, "X").replace("M2", "M")
    assert shape == unknown.json()["detail"].replace("10443720999999999", "X").replace("M1", "M")
    assert inbox.messages == []


async def test_residential_premise_caps_the_term_at_twelve_months(
    mail_app: FastAPI, market: Market, data: Builder
) -> None:
    async with client_for(mail_app) as client:
        too_long = await request_agreement(client, market, months=24)
        assert too_long.status_code == 422
        assert "residential" in too_long.json()["detail"]
        odd = await request_agreement(client, market, months=5)
        assert odd.status_code == 422
        await data.execute(
            "UPDATE esiids SET premise_type = 'commercial' WHERE esiid = :e", e=market.esiid
        )
        business = await request_agreement(client, market, months=36)
        assert business.status_code == 201, business.text
        assert business.json()["agreements"][0]["term_months"] == 36
        duplicate = await request_agreement(client, market, months=12)
        assert duplicate.status_code == 409


async def test_decline_grants_nothing_and_is_audited(
    mail_app: FastAPI, market: Market, inbox: Inbox
) -> None:
    async with client_for(mail_app) as client:
        agreement_id = (await request_agreement(client, market)).json()["agreements"][0]["id"]
        declined = await client.post(
            f"/v1/agreements/{agreement_id}/decline", headers=bearer(market.alice_token)
        )
        assert declined.status_code == 200
        assert declined.json()["status"] == "declined"
        assert declined.json()["events"][-1]["to_status"] == "declined"
        assert (await read_intervals(client, market.csp_token, market.esiid)).status_code == 404
        # Someone not party to it cannot even see it.
        stranger = await client.get(
            f"/v1/agreements/{agreement_id}", headers=bearer(market.bob_token)
        )
        assert stranger.status_code == 404
    assert "declined" in inbox.to(market.csp_email)[0]["Subject"]


async def test_friend_invitation_and_expiry_stop_reads_on_the_day(
    app_factory: Any, market: Market, inbox: Inbox
) -> None:
    app = app_factory(smtp_port=inbox.port)
    async with client_for(app) as client:
        invited = await client.post(
            "/v1/agreements/friends",
            json={"friend": market.bob_email.upper(), "esiid": market.esiid, "months": 1},
            headers=bearer(market.alice_token),
        )
        assert invited.status_code == 201, invited.text
        invitation = invited.json()
        assert invitation["kind"] == "friend"
        assert invitation["decider_entity_id"] == str(market.bob)
        [mail] = inbox.to(market.bob_email)
        assert market.esiid in mail["Subject"]

        # The inviting customer cannot accept for the friend.
        assert (
            await client.post(
                f"/v1/agreements/{invitation['id']}/accept", headers=bearer(market.alice_token)
            )
        ).status_code == 403
        assert (await read_intervals(client, market.bob_token, market.esiid)).status_code == 404
        accepted = await client.post(
            f"/v1/agreements/{invitation['id']}/accept", headers=bearer(market.bob_token)
        )
        assert accepted.json()["ends_on"] == "2026-12-20"
        assert (await read_intervals(client, market.bob_token, market.esiid)).status_code == 200

    # The day the term ends, reads stop, before any job has touched the row.
    later = app_factory(smtp_port=inbox.port)
    later.state.today = lambda: date(2026, 12, 20)
    async with client_for(later) as client:
        assert (await read_intervals(client, market.bob_token, market.esiid)).status_code == 404
        shown = await client.get(
            f"/v1/agreements/{invitation['id']}", headers=bearer(market.bob_token)
        )
        assert shown.json()["status"] == "expired"
        assert shown.json()["events"][-1]["to_status"] == "accepted"

        expired, _ = await later.state.agreement_jobs.run_once()
        assert expired >= 1
        shown = await client.get(
            f"/v1/agreements/{invitation['id']}", headers=bearer(market.bob_token)
        )
    last = shown.json()["events"][-1]
    assert (last["from_status"], last["to_status"], last["actor_entity_id"]) == (
        "accepted",
        "expired",
        None,
    )
    assert "term ended" in last["reason"]


async def test_friend_must_be_an_existing_account_and_esiid_the_callers(
    mail_app: FastAPI, market: Market
) -> None:
    async with client_for(mail_app) as client:
        nobody = await client.post(
            "/v1/agreements/friends",
            json={"friend": "no-such-user", "esiid": market.esiid, "months": 1},
            headers=bearer(market.alice_token),
        )
        assert nobody.status_code == 404
        not_mine = await client.post(
            "/v1/agreements/friends",
            json={"friend": market.alice_name, "esiid": market.esiid, "months": 1},
            headers=bearer(market.bob_token),
        )
        assert not_mine.status_code == 404
        assert not_mine.json()["detail"] == f"ESI ID {market.esiid} was not found"
        csp = await client.post(
            "/v1/agreements/friends",
            json={"friend": market.bob_name, "esiid": market.esiid, "months": 1},
            headers=bearer(market.csp_token),
        )
        assert csp.status_code == 403


async def test_unanswered_request_expires(mail_app: FastAPI, market: Market, data: Builder) -> None:
    async with client_for(mail_app) as client:
        agreement_id = (await request_agreement(client, market)).json()["agreements"][0]["id"]
        await data.execute(
            "UPDATE access_agreements SET created_at = now() - interval '31 days' WHERE id = :id",
            id=uuid.UUID(agreement_id),
        )
        late = await client.post(
            f"/v1/agreements/{agreement_id}/accept", headers=bearer(market.alice_token)
        )
        assert late.status_code == 409
        assert "expired" in late.json()["detail"]
        # An expired request no longer blocks a new one.
        assert (await request_agreement(client, market)).status_code == 201


async def test_request_needs_a_customer_to_ask(
    mail_app: FastAPI, market: Market, data: Builder
) -> None:
    orphan = await data.esiid(meters=("Z9",))
    async with client_for(mail_app) as client:
        answer = await client.post(
            "/v1/agreements",
            json={"esiids": [{"esiid": orphan, "meter_number": "Z9"}], "months": 3},
            headers=bearer(market.csp_token),
        )
        assert answer.status_code == 422
        assert "register" in answer.json()["detail"]
        customer = await client.post(
            "/v1/agreements",
            json={"esiids": [{"esiid": market.esiid, "meter_number": "M1"}], "months": 3},
            headers=bearer(market.bob_token),
        )
        assert customer.status_code == 403


async def test_relay_down_keeps_the_mail_and_the_job_sends_it_later(
    app_factory: Any, market: Market, inbox: Inbox, connection: Any
) -> None:
    down = app_factory(smtp_port=1, mail_retry_seconds=0.01)
    async with client_for(down) as client:
        created = await request_agreement(client, market)
    assert created.status_code == 201
    agreement_id = uuid.UUID(created.json()["agreements"][0]["id"])
    row = (
        await connection.execute(
            text("SELECT status, attempts, last_error FROM agreement_mails WHERE agreement_id=:a"),
            {"a": agreement_id},
        )
    ).one()
    assert (row.status, row.attempts) == ("pending", 1)
    assert "cannot connect" in row.last_error

    up = app_factory(smtp_port=inbox.port)
    _, sent = await up.state.agreement_jobs.run_once()
    assert sent >= 1
    assert len(inbox.to(market.alice_email)) == 1


async def test_starttls_is_used_when_the_relay_offers_it(
    app_factory: Any, market: Market, tls_inbox: tuple[Inbox, Any]
) -> None:
    box, ca_file = tls_inbox
    app = app_factory(smtp_port=box.port, ca_cert_file=ca_file)
    async with client_for(app) as client:
        assert (await request_agreement(client, market)).status_code == 201
    assert len(box.to(market.alice_email)) == 1
    assert box.tls_sessions == 1
