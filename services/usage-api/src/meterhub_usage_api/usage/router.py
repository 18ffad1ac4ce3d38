"""Usage reads of one ESI ID: 15-minute intervals, daily meter reads, monthly billed usage,
premise and meter data."""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine
from datetime import date
from enum import Enum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.routing import APIRoute

from meterhub_usage_api.openapi import BEARER_SECURITY, READ_ERRORS, error_responses, ok_headers
from meterhub_usage_api.security import caller
from meterhub_usage_api.settings import UsageApiSettings
from meterhub_usage_api.usage import render, service
from meterhub_usage_api.usage.negotiation import Format, negotiate
from meterhub_usage_api.usage.repository import Granularity
from meterhub_usage_api.usage.schemas import (
    EXAMPLE_ESIID,
    Channel,
    DailyReadsResponse,
    IntervalsResponse,
    MonthlyUsageResponse,
    PremiseResponse,
    Versions,
)
from meterhub_usage_api.usage.service import ReadContext

router = APIRouter(prefix="/v1/esiids", tags=["usage"])

EsiidPath = Annotated[
    str,
    Path(
        pattern=r"^[A-Za-z0-9]{1,64}$",
        description="The ESI ID (1 to 64 letters and digits; real ones have 17 or 22 digits).",
        examples=[EXAMPLE_ESIID],
    ),
]
StartQuery = Annotated[
    date, Query(description="First operating day (inclusive).", examples=["2026-11-01"])
]
EndQuery = Annotated[
    date, Query(description="Last operating day (inclusive).", examples=["2026-11-01"])
]
VersionsQuery = Annotated[
    Versions,
    Query(description="latest: the current version; all: every version (REP and TDSP only)."),
]

INTERVAL_FORMATS = (Format.JSON, Format.CSV, Format.ATOM)
TABLE_FORMATS = (Format.JSON, Format.CSV)

_INTERVAL_CSV_EXAMPLE = (
    f"{render.INTERVAL_CSV_HEADER}\r\n"
    f"{EXAMPLE_ESIID},11/01/2026,11/02/2026 05:12:09,00:00,00:15,0.251,A,Consumption\r\n"
    f"{EXAMPLE_ESIID},11/01/2026,11/02/2026 05:12:09,01:00,01:15,0.198,E,Consumption\r\n"
)
_ATOM_EXAMPLE = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<feed xmlns="http://www.w3.org/2005/Atom" xmlns:espi="http://naesb.org/espi">...</feed>'
)


_INTERVALS_JSON_EXAMPLE = {
    "esiid": EXAMPLE_ESIID,
    "channel": "consumption",
    "granularity": "15min",
    "versions": "latest",
    "start": "2026-11-01",
    "end": "2026-11-01",
    "days": [
        {
            "operating_day": "2026-11-01",
            "version": 2,
            "current": True,
            "revision_at": "2026-11-02T05:12:09-06:00",
            "superseded_at": None,
            "interval_count": 100,
            "intervals": [
                {
                    "start": "2026-11-01T01:45:00-05:00",
                    "end": "2026-11-01T01:00:00-06:00",
                    "kwh": "0.251",
                    "status": "A",
                },
                {
                    "start": "2026-11-01T01:00:00-06:00",
                    "end": "2026-11-01T01:15:00-06:00",
                    "kwh": None,
                    "status": None,
                },
            ],
        }
    ],
}


def _content(
    csv_example: str | None, atom: bool = False, json_example: dict[str, Any] | None = None
) -> dict[str, Any]:
    content: dict[str, Any] = {}
    if json_example is not None:
        content["application/json"] = {"example": json_example}
    if csv_example is not None:
        content["text/csv"] = {"schema": {"type": "string"}, "example": csv_example}
    if atom:
        content["application/atom+xml"] = {"schema": {"type": "string"}, "example": _ATOM_EXAMPLE}
    return content


def _ok(
    model: type,
    description: str,
    csv_example: str | None,
    atom: bool = False,
    json_example: dict[str, Any] | None = None,
) -> Any:
    return {
        200: {
            "model": model,
            "description": description,
            "headers": ok_headers(),
            "content": _content(csv_example, atom, json_example),
        },
        **READ_ERRORS,
        **error_responses(403),
    }


async def _context(request: Request) -> ReadContext:
    # One dependency for the caller, the reader and the audit: FastAPI's cost grows with
    # the number of dependencies it solves, and this runs on every read. Not a generator:
    # the read takes a connection for its one statement (database.Reader).
    principal = await caller(request)
    route = request.scope.get("route")
    path = route.path if route is not None else request.scope["path"]
    state = request.app.state
    return ReadContext(
        principal=principal,
        today=state.today(),
        endpoint=f"{request.method} {path}",
        reader=state.reader,
        audit=state.audit,
    )


Context = Annotated[ReadContext, Depends(_context)]


def _settings(request: Request) -> UsageApiSettings:
    settings: UsageApiSettings = request.app.state.settings
    return settings


def _reply(rendered: service.Rendered) -> Response:
    return Response(content=rendered.body, media_type=rendered.media_type)


_PLAIN_ESIID = re.compile(r"[A-Za-z0-9]{1,64}")
_PLAIN_DATE = re.compile(rb"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_PLAIN_CHOICES: dict[bytes, tuple[str, dict[bytes, Enum]]] = {
    b"channel": ("channel", {m.value.encode(): m for m in Channel}),
    b"versions": ("versions", {m.value.encode(): m for m in Versions}),
    b"granularity": ("granularity", {m.value.encode(): m for m in Granularity}),
}


def _plain_interval_query(request: Request) -> dict[str, Any] | None:
    """The read's parameters when the request is in the plain form FastAPI would take as is;
    None for anything else (percent-escapes, repeats, another date form, a bad value), which
    then goes through FastAPI's own parsing and its 422s."""
    esiid = request.path_params.get("esiid")
    if not isinstance(esiid, str) or _PLAIN_ESIID.fullmatch(esiid) is None:
        return None
    raw: bytes = request.scope["query_string"]
    if b"%" in raw or b"+" in raw:
        return None
    query: dict[str, Any] = {"esiid": esiid}
    for pair in raw.split(b"&"):
        name, _, value = pair.partition(b"=")
        if name in (b"start", b"end"):
            key = name.decode()
            if key in query or _PLAIN_DATE.fullmatch(value) is None:
                return None
            try:
                query[key] = date.fromisoformat(value.decode())
            except ValueError:
                return None
        elif name in _PLAIN_CHOICES:
            key, members = _PLAIN_CHOICES[name]
            member = members.get(value)
            if key in query or member is None:
                return None
            query[key] = member
        # Other names are not parameters of this route; FastAPI ignores them too.
    if "start" not in query or "end" not in query:
        return None
    return query


class _PlainIntervalsRoute(APIRoute):
    """GET intervals, the hot read: a plain request skips FastAPI's parameter solving (a
    sixth of the API's CPU on a one-day read) and calls the same endpoint with the same
    values FastAPI would have passed; every other request takes the full route."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        solved = super().get_route_handler()

        async def handler(request: Request) -> Response:
            query = _plain_interval_query(request)
            if query is None:
                return await solved(request)
            # The caller first, as FastAPI solves the dependency before the parameters.
            return await get_intervals(request, await _context(request), **query)

        return handler


async def get_intervals(
    request: Request,
    ctx: Context,
    esiid: EsiidPath,
    start: StartQuery,
    end: EndQuery,
    channel: Annotated[Channel, Query(description="LSE channel 4 or 1.")] = Channel.CONSUMPTION,
    versions: VersionsQuery = Versions.LATEST,
    granularity: Annotated[
        Granularity, Query(description="15min, or sums per hour, day or month.")
    ] = Granularity.QUARTER_HOUR,
) -> Response:
    fmt = negotiate(request.headers.get("accept"), INTERVAL_FORMATS)
    rendered = await service.read_intervals(
        ctx,
        esiid,
        start=start,
        end=end,
        channel=channel,
        versions=versions,
        granularity=granularity,
        fmt=fmt,
        max_days=_settings(request).sync_read_max_days,
        # Only Green Button links to itself; building the URL costs every other read.
        self_href=str(request.url) if fmt is Format.ATOM else "",
    )
    return _reply(rendered)


# Registered by hand for the route class (the decorator cannot name one).
router.add_api_route(
    "/{esiid}/intervals",
    get_intervals,
    methods=["GET"],
    summary="15-minute interval usage of one ESI ID",
    description=(
        "Intervals of the operating days `start`..`end` (inclusive, at most 40 days; longer "
        "reads are ad-hoc reports, `POST /v1/reports`), by day, each with its start and end "
        "instant (ISO 8601 with the Central offset in force), exact kWh (a decimal string), "
        "status A/E (null with kWh null when missing) and the record's revision time. "
        "`granularity=hour|day|month` returns sums computed in the database with the count "
        "of estimated and missing intervals. `Accept: text/csv` gives SMT's interval CSV "
        "layout, `Accept: application/atom+xml` Green Button (ESPI) XML. Days outside what the "
        "caller may read are left out; an ESI ID the caller may not read in the range at all "
        "answers 404 exactly like an unknown one."
    ),
    response_class=Response,
    responses=_ok(
        IntervalsResponse,
        "intervals by day, or totals",
        _INTERVAL_CSV_EXAMPLE,
        atom=True,
        json_example=_INTERVALS_JSON_EXAMPLE,
    ),
    openapi_extra=BEARER_SECURITY,
    route_class_override=_PlainIntervalsRoute,
)


_DAILY_CSV_EXAMPLE = (
    f"{render.DAILY_CSV_HEADER}\r\n"
    f"{EXAMPLE_ESIID},11/01/2026,11/02/2026 05:12:09,113456789,10234.5000,10256.2500,21.7500\r\n"
)


@router.get(
    "/{esiid}/daily-reads",
    summary="Daily meter reads of one ESI ID",
    description=(
        "Start and end register readings and kWh per meter per day for `start`..`end` "
        "(inclusive, at most 1200 days). `Accept: text/csv` for CSV."
    ),
    response_class=Response,
    responses=_ok(DailyReadsResponse, "daily meter reads", _DAILY_CSV_EXAMPLE),
    openapi_extra=BEARER_SECURITY,
)
async def get_daily_reads(
    request: Request,
    ctx: Context,
    esiid: EsiidPath,
    start: StartQuery,
    end: EndQuery,
    versions: VersionsQuery = Versions.LATEST,
) -> Response:
    fmt = negotiate(request.headers.get("accept"), TABLE_FORMATS)
    rendered = await service.read_daily(
        ctx,
        esiid,
        start=start,
        end=end,
        versions=versions,
        fmt=fmt,
        max_days=_settings(request).sync_daily_read_max_days,
    )
    return _reply(rendered)


_MONTHLY_CSV_EXAMPLE = (
    f"{render.MONTHLY_CSV_HEADER}\r\n"
    f"{EXAMPLE_ESIID},113456789,10/03/2026,11/02/2026,11/03/2026 06:00:00,1024.0000,5.2000\r\n"
)


@router.get(
    "/{esiid}/monthly-usage",
    summary="Monthly billed usage of one ESI ID",
    description=(
        "Billing periods starting in `start`..`end` (default: the caller's whole window, 24 "
        "months). A period is shown only if it lies wholly within what the caller may read. "
        "`Accept: text/csv` for CSV."
    ),
    response_class=Response,
    responses=_ok(MonthlyUsageResponse, "monthly billed usage", _MONTHLY_CSV_EXAMPLE),
    openapi_extra=BEARER_SECURITY,
)
async def get_monthly_usage(
    request: Request,
    ctx: Context,
    esiid: EsiidPath,
    start: Annotated[date | None, Query(description="First period start (inclusive).")] = None,
    end: Annotated[date | None, Query(description="Last period start (inclusive).")] = None,
    versions: VersionsQuery = Versions.LATEST,
) -> Response:
    fmt = negotiate(request.headers.get("accept"), TABLE_FORMATS)
    rendered = await service.read_monthly(
        ctx, esiid, start=start, end=end, versions=versions, fmt=fmt
    )
    return _reply(rendered)


@router.get(
    "/{esiid}",
    summary="Premise and meter data of one ESI ID",
    description=(
        "The premise (TDSP, type, address) and its meters. A REP sees it while it is, or "
        "within its 48-month window was, the REP of record; a customer while linked."
    ),
    response_class=Response,
    responses=_ok(PremiseResponse, "premise and meters", None),
    openapi_extra=BEARER_SECURITY,
)
async def get_premise(request: Request, ctx: Context, esiid: EsiidPath) -> Response:
    negotiate(request.headers.get("accept"), (Format.JSON,))
    return _reply(await service.read_premise(ctx, esiid))
