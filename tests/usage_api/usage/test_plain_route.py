"""GET intervals takes a short cut past FastAPI's parameter solving for plain requests; every
answer must be the one the full route gives, and everything else must take the full route."""

from __future__ import annotations

import re
from datetime import date

import httpx
import pytest
from fastapi import FastAPI

from meterhub_usage_api.usage import router as usage_router
from tests.usage_api.conftest import REP_A, REP_B, Builder, bearer

DAY = date(2026, 11, 1)  # the fall-back day: 100 intervals


@pytest.fixture
async def esiid(data: Builder) -> str:
    esiid = await data.esiid()
    await data.service(esiid, REP_A, date(2025, 1, 1))
    await data.days(esiid, date(2026, 10, 30), date(2026, 11, 2))
    await data.intervals(esiid, DAY)  # a second version of the fall-back day
    return esiid


@pytest.fixture
def plain_calls(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether each request was taken by the short cut."""
    calls: list[bool] = []
    parse = usage_router._plain_interval_query

    def spy(request):  # type: ignore[no-untyped-def]
        query = parse(request)
        calls.append(query is not None)
        return query

    monkeypatch.setattr(usage_router, "_plain_interval_query", spy)
    return calls


def comparable(response: httpx.Response) -> tuple[int, list[tuple[str, str]], bytes]:
    content = response.content
    if response.headers.get("content-type") == "application/atom+xml":
        # The feed's head names the request's own URL (which differs by the forcing parameter);
        # compare the entries, without the times they were made (the two requests can fall in
        # different seconds).
        content = re.sub(rb"<(updated|published)>[^<]*</\1>", b"", content.partition(b"<entry>")[2])
    headers = sorted(
        (k, v) for k, v in response.headers.items() if k not in ("x-request-id", "content-length")
    )
    return response.status_code, headers, content


QUERIES = [
    "start=2026-11-01&end=2026-11-01",
    "start=2026-10-30&end=2026-11-02&channel=consumption",
    "start=2026-11-01&end=2026-11-01&versions=all",
    "start=2026-10-30&end=2026-11-02&granularity=hour",
    "start=2026-10-30&end=2026-11-02&granularity=day&channel=generation",
    "start=2026-11-02&end=2026-10-30",  # 422: start after end
    "start=2026-01-01&end=2026-03-01",  # 422: more than 40 days
    "start=2021-01-01&end=2021-01-02",  # 404: before the REP's window
    "start=2026-11-01&end=2026-11-01&versions=all&granularity=hour",  # 422
    "end=2026-11-01&start=2026-11-01&unknown=1",
]


@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.parametrize("accept", ["application/json", "text/csv", "application/atom+xml"])
async def test_the_short_cut_answers_exactly_as_the_full_route(
    client: httpx.AsyncClient,
    make_token,
    esiid: str,
    plain_calls: list[bool],
    query: str,
    accept: str,
) -> None:
    headers = bearer(make_token("rep", REP_A), Accept=accept)
    plain = await client.get(f"/v1/esiids/{esiid}/intervals?{query}", headers=headers)
    # A percent-escape anywhere sends the request through FastAPI's own parsing.
    full = await client.get(f"/v1/esiids/{esiid}/intervals?{query}&x=%20", headers=headers)
    assert plain_calls == [True, False]
    assert comparable(plain) == comparable(full)


async def test_other_callers_and_unknown_ids_answer_as_the_full_route(
    client: httpx.AsyncClient, make_token, esiid: str, plain_calls: list[bool]
) -> None:
    query = "start=2026-11-01&end=2026-11-01"
    for path, headers in [
        (f"/v1/esiids/{esiid}/intervals", bearer(make_token("rep", REP_B))),  # 404
        ("/v1/esiids/10443720999999999/intervals", bearer(make_token("rep", REP_A))),  # 404
        (f"/v1/esiids/{esiid}/intervals", {}),  # 401
        (f"/v1/esiids/{esiid}/intervals", {"Authorization": "Bearer nonsense"}),  # 401
    ]:
        plain = await client.get(f"{path}?{query}", headers=headers)
        full = await client.get(f"{path}?{query}&x=%20", headers=headers)
        assert plain.status_code in (401, 404)
        assert comparable(plain) == comparable(full)
    assert plain_calls == [True, False] * 4


@pytest.mark.parametrize(
    "query",
    [
        "start=2026-11-01",  # end missing
        "start=2026-11-01&end=2026-11-01&start=2026-11-02",  # repeated (the last counts)
        "start=20261101&end=2026-11-01",  # another date form
        "start=2026-11-31&end=2026-11-31",  # no such day
        "start=2026-11-01&end=2026-11-01&channel=4",  # not a channel name
        "start=2026-11-01&end=2026-11-01&granularity=",  # empty
        "start=2026-11-01&end=2026-11-01&versions",  # no value
        "start=2026-11-01&end=2026-11-01+",  # a plus is a space
    ],
)
async def test_anything_not_plain_takes_the_full_route(
    app: FastAPI,
    client: httpx.AsyncClient,
    make_token,
    esiid: str,
    plain_calls: list[bool],
    query: str,
) -> None:
    response = await client.get(
        f"/v1/esiids/{esiid}/intervals?{query}", headers=bearer(make_token("rep", REP_A))
    )
    assert plain_calls == [False]
    assert response.status_code == 422, response.text


async def test_an_esiid_outside_the_pattern_takes_the_full_route(
    client: httpx.AsyncClient, make_token, plain_calls: list[bool]
) -> None:
    response = await client.get(
        "/v1/esiids/1044-3720/intervals?start=2026-11-01&end=2026-11-01",
        headers=bearer(make_token("rep", REP_A)),
    )
    assert plain_calls == [False]
    assert response.status_code == 422


async def test_plain_reads_are_audited_like_the_others(
    app: FastAPI, client: httpx.AsyncClient, make_token, esiid: str, data: Builder
) -> None:
    headers = bearer(make_token("rep", REP_A, client_id="rep-plain"))
    ok = await client.get(
        f"/v1/esiids/{esiid}/intervals?start=2026-10-30&end=2026-11-02", headers=headers
    )
    assert ok.status_code == 200
    assert await app.state.audit.flush() == 1
    row = (
        await data.execute(
            "SELECT endpoint, esiid, range_start, range_end, row_count, status_code, request_id"
            " FROM read_audit WHERE client_id = 'rep-plain'"
        )
    ).one()
    assert tuple(row) == (
        "GET /v1/esiids/{esiid}/intervals",
        esiid,
        date(2026, 10, 30),
        date(2026, 11, 2),
        4,
        200,
        ok.headers["x-request-id"],
    )
