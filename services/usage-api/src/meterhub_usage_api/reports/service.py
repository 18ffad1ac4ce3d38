"""The rules of ad-hoc reports (seed 004: up to 50,000 ESI IDs a request, results in the
requester's FTPS folder for 10 days)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from meterhub_common.auth import Principal
from meterhub_common.errors import Forbidden, NotFound, Unprocessable
from meterhub_common.models.usage_api import Role
from meterhub_usage_api.access.service import ALL_VERSIONS_ROLES
from meterhub_usage_api.reports import repository as repo
from meterhub_usage_api.reports.schemas import FileFormat, ReportIn, ReportType

# Companies with an FTPS folder (one per DUNS) order reports; customers export by email.
REPORT_ROLES = frozenset({Role.REP, Role.TDSP, Role.CSP})


async def create(
    session: AsyncSession, principal: Principal, body: ReportIn, *, max_esiids: int
) -> uuid.UUID:
    if principal.role not in REPORT_ROLES or not principal.duns:
        raise Forbidden(
            "ad-hoc reports are delivered to a company's FTPS folder: REP, TDSP and CSP "
            "clients with a DUNS order them"
        )
    esiids = list(dict.fromkeys(body.esiids))
    if len(body.esiids) > max_esiids:
        raise Unprocessable(
            f"a report covers at most {max_esiids:,} ESI IDs and {len(body.esiids):,} were "
            "given; split the request"
        )
    if body.start > body.end:
        raise Unprocessable(f"start {body.start} is after end {body.end}; both are inclusive")
    if body.format is FileFormat.LSE and body.type is not ReportType.INTERVAL:
        raise Unprocessable("the LSE format carries interval data; use csv for daily or monthly")
    if body.versions == "all" and principal.role not in ALL_VERSIONS_ROLES:
        raise Forbidden("versions=all is for REP and TDSP clients")
    report_id = uuid.uuid4()
    await repo.insert_report(
        session,
        report_id=report_id,
        requester_entity_id=principal.entity_id,
        requester_role=principal.role.value,
        requester_duns=principal.duns,
        client_id=principal.client_id,
        report_type=body.type.value,
        start_date=body.start,
        end_date=body.end,
        versions=body.versions,
        file_format=body.format.value,
        esiids=esiids,
    )
    return report_id


async def visible_report(
    session: AsyncSession, principal: Principal, report_id: uuid.UUID
) -> RowMapping:
    row = await repo.report(session, report_id)
    if row is None or (
        principal.role is not Role.OPERATOR and row["requester_entity_id"] != principal.entity_id
    ):
        raise NotFound(f"report {report_id} was not found")
    return row


async def view(session: AsyncSession, row: RowMapping, *, with_excluded: bool) -> dict[str, Any]:
    total, done = await repo.chunk_progress(session, row["id"])
    files = await repo.files(session, row["id"])
    excluded = await repo.excluded_esiids(session, row["id"]) if with_excluded else []
    return {
        "id": row["id"],
        "status": row["status"],
        "type": row["report_type"],
        "format": row["file_format"],
        "versions": row["versions"],
        "start": row["start_date"],
        "end": row["end_date"],
        "counts": {
            "requested": row["esiid_count"],
            "included": row["included_count"],
            "excluded": row["excluded_count"],
            "records": row["record_count"],
            "chunks_total": total,
            "chunks_done": done,
        },
        "files": [
            {
                "file_name": f["placed_name"] or f["file_name"],
                "records": f["record_count"],
                "bytes": f["byte_count"],
                "delivered_at": f["delivered_at"],
            }
            for f in files
        ],
        "excluded_esiids": excluded,
        "attempts": row["attempts"],
        "last_error": row["last_error"],
        "created_at": row["created_at"],
        "started_at": row["started_at"],
        "finished_at": row["finished_at"],
    }
