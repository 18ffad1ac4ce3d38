"""The rules of a usage read: limits, versions, the 404 that hides what may not be seen, audit.

Every read is audited, including those answered 404 (a probe for ESI IDs shows up in the
audit); reads rejected before touching data (bad parameters) are not.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

import asyncpg
import orjson

from meterhub_common.auth import Principal
from meterhub_common.errors import Forbidden, NotFound, Unprocessable
from meterhub_common.logs import request_id_var
from meterhub_usage_api.access.service import ALL_VERSIONS_ROLES, DataKind, Viewer, floor_day
from meterhub_usage_api.audit.writer import AuditEntry, AuditWriter
from meterhub_usage_api.database import Reader
from meterhub_usage_api.errors import NotAcceptable
from meterhub_usage_api.usage import greenbutton, render, repository
from meterhub_usage_api.usage.negotiation import Format
from meterhub_usage_api.usage.repository import Granularity, ReadWindow
from meterhub_usage_api.usage.schemas import Channel, Versions

_GRANULARITY_SECONDS = {
    Granularity.QUARTER_HOUR: 900,
    Granularity.HOUR: 3600,
    Granularity.DAY: None,  # 23, 24 or 25 hours
    Granularity.MONTH: None,
}


def not_found(esiid: str) -> NotFound:
    """The one answer for an unknown ESI ID and for one the caller may not see."""
    return NotFound(f"ESI ID {esiid} was not found")


# A row of a read: an asyncpg record, or a dict made from one (intervals).
_Row = TypeVar("_Row", asyncpg.Record, dict[str, Any])


@dataclass(frozen=True, slots=True)
class ReadContext:
    principal: Principal
    today: date
    endpoint: str
    reader: Reader
    audit: AuditWriter

    def window(self, esiid: str, kind: DataKind, start: date, end: date) -> ReadWindow:
        floor = floor_day(self.principal.role, kind, self.today)
        params = Viewer(self.principal, self.today).params(esiid)
        return ReadWindow(params, max(start, floor), end + timedelta(days=1))

    def record(self, esiid: str, start: date, end: date, rows: int, status: int) -> None:
        principal = self.principal
        self.audit.record(
            AuditEntry(
                occurred_at=datetime.now(UTC),
                entity_id=principal.entity_id,
                role=principal.role.value,
                client_id=principal.client_id,
                endpoint=self.endpoint,
                esiid=esiid,
                range_start=start,
                range_end=end,
                row_count=rows,
                status_code=status,
                request_id=request_id_var.get(),
            )
        )

    def settle(self, esiid: str, start: date, end: date, rows: list[_Row], key: str) -> list[_Row]:
        """Audit the read and return its data rows, or raise the 404."""
        if not rows or not rows[0]["visible"]:
            self.record(esiid, start, end, 0, 404)
            raise not_found(esiid)
        data = [row for row in rows if row[key] is not None]
        self.record(esiid, start, end, len(data), 200)
        return data


# Operating days outside these are answered 422 before they reach date arithmetic.
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(2999, 12, 31)


def check_days(start: date, end: date) -> None:
    for day in (start, end):
        if not FIRST_DAY <= day <= LAST_DAY:
            raise Unprocessable(f"{day} is outside the operating days {FIRST_DAY}..{LAST_DAY}")
    if start > end:
        raise Unprocessable(f"start {start} is after end {end}; both are inclusive dates")


def check_range(start: date, end: date, max_days: int, what: str) -> None:
    check_days(start, end)
    if start > end:
        raise Unprocessable(f"start {start} is after end {end}; both are inclusive dates")
    days = (end - start).days + 1
    if days > max_days:
        raise Unprocessable(
            f"a synchronous {what} read covers at most {max_days} days of one ESI ID; "
            f"{start}..{end} is {days} days: request it as an ad-hoc report (POST /v1/reports)"
        )


def check_versions(principal: Principal, versions: Versions) -> None:
    if versions is Versions.ALL and principal.role not in ALL_VERSIONS_ROLES:
        raise Forbidden(
            "versions=all is for REP and TDSP clients; other clients read the current version"
        )


@dataclass(frozen=True, slots=True)
class Rendered:
    body: bytes
    media_type: str


async def read_intervals(
    ctx: ReadContext,
    esiid: str,
    *,
    start: date,
    end: date,
    channel: Channel,
    versions: Versions,
    granularity: Granularity,
    fmt: Format,
    max_days: int,
    self_href: str,
) -> Rendered:
    check_range(start, end, max_days, "interval")
    check_versions(ctx.principal, versions)
    all_versions = versions is Versions.ALL
    if all_versions and granularity is not Granularity.QUARTER_HOUR:
        raise Unprocessable("versions=all is offered with granularity=15min only")
    if all_versions and fmt is Format.ATOM:
        raise NotAcceptable("Green Button carries the current version only; ask for JSON or CSV")
    window = ctx.window(esiid, DataKind.INTERVALS, start, end)
    role = ctx.principal.role
    code = channel.lse_code
    header: dict[str, Any] = {
        "esiid": esiid,
        "channel": channel.value,
        "granularity": granularity.value,
        "versions": versions.value,
        "start": start,
        "end": end,
    }

    if granularity is Granularity.QUARTER_HOUR:
        rows = await repository.interval_rows(
            ctx.reader, role, window, channel=code, all_versions=all_versions
        )
        data = ctx.settle(esiid, start, end, rows, "operating_day")
        if fmt is Format.CSV:
            return Rendered(render.intervals_csv(esiid, code, data), render.CSV_MEDIA_TYPE)
        if fmt is Format.ATOM:
            document = greenbutton.feed(
                esiid=esiid,
                channel=code,
                interval_length=900,
                blocks=greenbutton.interval_blocks(data),
                self_href=self_href,
            )
            return Rendered(document, greenbutton.ATOM_MEDIA_TYPE)
        return Rendered(render.intervals_json(header, data), render.JSON_MEDIA_TYPE)

    rows = await repository.aggregate_rows(
        ctx.reader, role, window, channel=code, granularity=granularity
    )
    data = ctx.settle(esiid, start, end, rows, "bucket")
    totals = render.aggregates(granularity, data, window.lo, window.hi)
    if fmt is Format.CSV:
        return Rendered(render.aggregates_csv(esiid, code, totals), render.CSV_MEDIA_TYPE)
    if fmt is Format.ATOM:
        document = greenbutton.feed(
            esiid=esiid,
            channel=code,
            interval_length=_GRANULARITY_SECONDS[granularity],
            blocks=greenbutton.aggregate_block(totals),
            self_href=self_href,
        )
        return Rendered(document, greenbutton.ATOM_MEDIA_TYPE)
    return Rendered(render.aggregates_json(header, totals), render.JSON_MEDIA_TYPE)


async def read_daily(
    ctx: ReadContext,
    esiid: str,
    *,
    start: date,
    end: date,
    versions: Versions,
    fmt: Format,
    max_days: int,
) -> Rendered:
    check_range(start, end, max_days, "daily meter read")
    check_versions(ctx.principal, versions)
    window = ctx.window(esiid, DataKind.DAILY, start, end)
    rows = await repository.daily_rows(
        ctx.reader, ctx.principal.role, window, all_versions=versions is Versions.ALL
    )
    data = ctx.settle(esiid, start, end, rows, "read_date")
    if fmt is Format.CSV:
        return Rendered(render.daily_csv(esiid, data), render.CSV_MEDIA_TYPE)
    body = {
        "esiid": esiid,
        "versions": versions.value,
        "start": start,
        "end": end,
        "reads": render.daily_reads(data),
    }
    return Rendered(render.json_bytes(body), render.JSON_MEDIA_TYPE)


async def read_monthly(
    ctx: ReadContext,
    esiid: str,
    *,
    start: date | None,
    end: date | None,
    versions: Versions,
    fmt: Format,
) -> Rendered:
    floor = floor_day(ctx.principal.role, DataKind.MONTHLY, ctx.today)
    start = start or floor
    end = end or ctx.today
    check_days(start, end)
    check_versions(ctx.principal, versions)
    window = ctx.window(esiid, DataKind.MONTHLY, start, end)
    rows = await repository.monthly_rows(
        ctx.reader,
        ctx.principal.role,
        window,
        floor=floor,
        all_versions=versions is Versions.ALL,
    )
    data = ctx.settle(esiid, start, end, rows, "period_start")
    if fmt is Format.CSV:
        return Rendered(render.monthly_csv(esiid, data), render.CSV_MEDIA_TYPE)
    body = {
        "esiid": esiid,
        "versions": versions.value,
        "start": start,
        "end": end,
        "usage": render.monthly_usage(data),
    }
    return Rendered(render.json_bytes(body), render.JSON_MEDIA_TYPE)


async def read_premise(ctx: ReadContext, esiid: str) -> Rendered:
    """Premise and meter data, for whoever may read any of the ESI ID's days in its window."""
    floor = floor_day(ctx.principal.role, DataKind.PREMISE, ctx.today)
    window = ReadWindow(
        Viewer(ctx.principal, ctx.today).params(esiid), floor, ctx.today + timedelta(days=1)
    )
    row = await repository.premise_row(ctx.reader, ctx.principal.role, window)
    if row is None:
        ctx.record(esiid, floor, ctx.today, 0, 404)
        raise not_found(esiid)
    ctx.record(esiid, floor, ctx.today, 1, 200)
    body = {
        "esiid": row["esiid"],
        "tdsp_duns": row["tdsp_duns"],
        "premise_type": row["premise_type"],
        "address": {
            "line": row["address_line"],
            "city": row["city"],
            "state": row["state"],
            "zip_code": row["zip_code"],
        },
        # Already JSON, built by PostgreSQL (json_agg).
        "meters": orjson.Fragment(row["meters"]),
    }
    return Rendered(render.json_bytes(body), render.JSON_MEDIA_TYPE)
