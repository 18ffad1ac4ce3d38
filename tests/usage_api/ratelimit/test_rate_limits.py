"""Per-client token buckets, the RateLimit fields on every response, 429 with Retry-After."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest

from meterhub_common.auth import Principal, TokenIssuer, generate_signing_key
from meterhub_common.models.usage_api import Role
from meterhub_usage_api.ratelimit.buckets import Policy, TokenBuckets
from tests.usage_api.conftest import REP_A, AppFactory, bearer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_bucket_allows_a_burst_then_refills() -> None:
    clock = Clock()
    buckets = TokenBuckets(Policy("client", rate=2.0, burst=4), clock=clock)
    decisions = [buckets.take("a") for _ in range(5)]
    assert [d.allowed for d in decisions] == [True, True, True, True, False]
    assert [d.remaining for d in decisions] == [3, 2, 1, 0, 0]
    assert decisions[-1].retry_after_seconds == 1
    assert decisions[3].reset_seconds == 2  # 4 tokens at 2 per second
    assert buckets.take("b").allowed  # another key has its own bucket
    clock.now += 0.5
    assert buckets.take("a").allowed  # one token back after half a second
    assert not buckets.take("a").allowed
    clock.now += 10
    assert buckets.take("a").remaining == 3  # never more than the burst


def test_idle_full_buckets_are_forgotten_when_keys_pile_up() -> None:
    clock = Clock()
    buckets = TokenBuckets(Policy("client", rate=1.0, burst=2), clock=clock, max_keys=3)
    for key in ("a", "b", "c"):
        buckets.take(key)
    clock.now += 5  # all full again
    buckets.take("d")
    assert len(buckets._buckets) == 1


def test_policy_fields() -> None:
    policy = Policy("client", rate=50.0, burst=200)
    assert policy.policy_field() == '"client";q=200;w=4'


@pytest.fixture
def limited(app_factory: AppFactory) -> httpx.AsyncClient:
    app = app_factory(
        # Slow refills, so a loaded machine cannot refill a token between two requests.
        rate_limit_per_second=0.1,
        rate_limit_burst=3,
        anonymous_rate_limit_per_second=0.1,
        anonymous_rate_limit_burst=2,
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://usage.test")


async def test_429_after_the_burst_with_headers_on_every_response(
    limited: httpx.AsyncClient, make_token
) -> None:
    token = make_token("rep", REP_A, client_id="rep-busy")
    path = "/v1/esiids/10443720000000001/intervals?start=2026-11-01&end=2026-11-01"
    async with limited as client:
        answers = [await client.get(path, headers=bearer(token)) for _ in range(4)]
        other = await client.get(path, headers=bearer(make_token("rep", REP_A, client_id="calm")))
    assert [a.status_code for a in answers] == [404, 404, 404, 429]
    assert [a.headers["ratelimit"] for a in answers] == [
        '"client";r=2;t=10',
        '"client";r=1;t=20',
        '"client";r=0;t=30',
        '"client";r=0;t=30',
    ]
    assert all(a.headers["ratelimit-policy"] == '"client";q=3;w=30' for a in answers)
    refused = answers[-1]
    assert refused.headers["retry-after"] == "10"
    assert refused.json()["error"] == "too_many_requests"
    assert "rep-busy" in refused.json()["detail"]
    assert other.status_code == 404  # another client's bucket is untouched


async def test_requests_without_a_valid_token_share_their_address_bucket(
    limited: httpx.AsyncClient, make_token, tmp_path: Path
) -> None:
    private, public = tmp_path / "k", tmp_path / "k.pub"
    generate_signing_key(private, public)
    forged = TokenIssuer(private.read_bytes(), issuer="meterhub").issue(
        Principal(uuid.uuid4(), Role.REP, REP_A, "rep-victim")
    )
    victim = make_token("rep", REP_A, client_id="rep-victim")
    async with limited as client:
        health = await client.get("/healthz")
        forged_answers = [
            (await client.get("/v1/me", headers=bearer(forged))).status_code for _ in range(3)
        ]
        # The forged token drained the address's bucket, not the client it named.
        real = await client.get("/v1/me", headers=bearer(victim))
        anonymous = await client.get("/v1/me")
    assert "ratelimit" not in health.headers
    assert forged_answers == [401, 401, 429]
    assert real.status_code == 200
    assert real.headers["ratelimit-policy"].startswith('"client"')
    assert anonymous.status_code == 429
    assert anonymous.headers["ratelimit-policy"] == '"anonymous";q=2;w=20'
