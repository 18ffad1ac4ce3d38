"""All SQL of agreements: the agreement rows, their requests, audit events and mail outbox."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

_AGREEMENT_COLUMNS = """
    a.id, a.grantee_entity_id, a.grantor_entity_id, a.esiid, a.meter_number, a.status,
    a.starts_on, a.ends_on, a.created_at, a.decided_at, a.revoked_at,
    r.kind, r.requested_by_entity_id, r.requested_by_client_id, r.decider_entity_id,
    r.term_months, r.invitee_login,
    ge.name AS grantee_name, gr.name AS grantor_name
"""

_AGREEMENT_FROM = """
    FROM access_agreements a
    JOIN agreement_requests r ON r.agreement_id = a.id
    JOIN entities ge ON ge.id = a.grantee_entity_id
    JOIN entities gr ON gr.id = a.grantor_entity_id
"""


@dataclass(frozen=True, slots=True)
class MeterPoint:
    esiid: str
    meter_number: str
    premise_type: str


async def meter_points(
    session: AsyncSession, pairs: Sequence[tuple[str, str]], today: date
) -> dict[tuple[str, str], MeterPoint]:
    """The (ESI ID, meter number) pairs that exist with a meter in service on ``today``."""
    rows = await session.execute(
        text(
            "SELECT e.esiid, m.meter_number, e.premise_type"
            " FROM unnest(CAST(:esiids AS text[]), CAST(:meters AS text[])) AS p(esiid, meter)"
            " JOIN esiids e ON e.esiid = p.esiid"
            " JOIN meters m ON m.esiid = p.esiid AND m.meter_number = p.meter"
            " WHERE m.removal_date IS NULL OR m.removal_date > :today"
        ),
        {"esiids": [p[0] for p in pairs], "meters": [p[1] for p in pairs], "today": today},
    )
    return {
        (row.esiid, row.meter_number): MeterPoint(row.esiid, row.meter_number, row.premise_type)
        for row in rows
    }


async def premise_type(session: AsyncSession, esiid: str) -> str | None:
    value = await session.scalar(
        text("SELECT premise_type FROM esiids WHERE esiid = :esiid"), {"esiid": esiid}
    )
    return None if value is None else str(value)


@dataclass(frozen=True, slots=True)
class Holder:
    """A customer holding an ESI ID on a day: its current link and where to mail it."""

    entity_id: uuid.UUID
    esiid: str
    since: date
    meter_number: str
    email: str
    username: str


async def current_holders(
    session: AsyncSession, esiids: Sequence[str], today: date
) -> dict[str, Holder]:
    """For each ESI ID, the customer whose link covers ``today`` (the most recent link)."""
    rows = await session.execute(
        text(
            "SELECT DISTINCT ON (l.esiid) l.esiid, l.entity_id, l.start_date, l.meter_number,"
            " c.email, c.username"
            " FROM customer_esiid_links l"
            " JOIN customer_accounts c ON c.entity_id = l.entity_id"
            " WHERE l.esiid = ANY(CAST(:esiids AS text[])) AND l.start_date <= :today"
            " AND (l.end_date IS NULL OR l.end_date > :today)"
            " ORDER BY l.esiid, l.start_date DESC"
        ),
        {"esiids": list(esiids), "today": today},
    )
    return {
        row.esiid: Holder(
            row.entity_id, row.esiid, row.start_date, row.meter_number, row.email, row.username
        )
        for row in rows
    }


async def holder_link(
    session: AsyncSession, entity_id: uuid.UUID, esiid: str, today: date
) -> Holder | None:
    """The customer's own link to ``esiid`` covering ``today``, if it has one."""
    row = (
        await session.execute(
            text(
                "SELECT l.esiid, l.entity_id, l.start_date, l.meter_number, c.email, c.username"
                " FROM customer_esiid_links l"
                " JOIN customer_accounts c ON c.entity_id = l.entity_id"
                " WHERE l.entity_id = :entity_id AND l.esiid = :esiid AND l.start_date <= :today"
                " AND (l.end_date IS NULL OR l.end_date > :today)"
                " ORDER BY l.start_date DESC LIMIT 1"
            ),
            {"entity_id": entity_id, "esiid": esiid, "today": today},
        )
    ).first()
    if row is None:
        return None
    return Holder(
        row.entity_id, row.esiid, row.start_date, row.meter_number, row.email, row.username
    )


async def customers_by_login(session: AsyncSession, login: str) -> list[RowMapping]:
    """Customer accounts whose username or email is ``login`` (case-insensitive)."""
    rows = await session.execute(
        text(
            "SELECT c.entity_id, c.username, c.email, e.name FROM customer_accounts c"
            " JOIN entities e ON e.id = c.entity_id"
            " WHERE lower(c.username) = lower(:login) OR lower(c.email) = lower(:login)"
            " ORDER BY (lower(c.username) = lower(:login)) DESC, c.username"
        ),
        {"login": login},
    )
    return list(rows.mappings())


async def entity_contact(session: AsyncSession, entity_id: uuid.UUID) -> RowMapping | None:
    """An entity's name and where to mail it (a customer's account email wins)."""
    row = await session.execute(
        text(
            "SELECT e.name, COALESCE(c.email, e.email) AS email FROM entities e"
            " LEFT JOIN customer_accounts c ON c.entity_id = e.id WHERE e.id = :id"
        ),
        {"id": entity_id},
    )
    return row.mappings().first()


async def open_agreement_exists(
    session: AsyncSession, grantee: uuid.UUID, esiid: str, today: date, pending_since: datetime
) -> bool:
    """A pending request (still answerable) or an accepted, running agreement already exists."""
    found = await session.scalar(
        text(
            "SELECT EXISTS (SELECT 1 FROM access_agreements a"
            " WHERE a.grantee_entity_id = :grantee AND a.esiid = :esiid AND ("
            "   (a.status = 'pending' AND a.created_at >= :pending_since)"
            "   OR (a.status = 'accepted' AND a.revoked_at IS NULL AND a.ends_on > :today)))"
        ),
        {"grantee": grantee, "esiid": esiid, "today": today, "pending_since": pending_since},
    )
    return bool(found)


async def insert_agreement(
    session: AsyncSession,
    *,
    grantee: uuid.UUID,
    grantor: uuid.UUID,
    esiid: str,
    meter_number: str,
    starts_on: date,
    ends_on: date,
    kind: str,
    requested_by: uuid.UUID,
    requested_by_client_id: str,
    decider: uuid.UUID,
    term_months: int,
    invitee_login: str | None = None,
) -> uuid.UUID:
    agreement_id = uuid.uuid4()
    await session.execute(
        text(
            "INSERT INTO access_agreements (id, grantee_entity_id, grantor_entity_id, esiid,"
            " meter_number, status, starts_on, ends_on)"
            " VALUES (:id, :grantee, :grantor, :esiid, :meter, 'pending', :starts_on, :ends_on)"
        ),
        {
            "id": agreement_id,
            "grantee": grantee,
            "grantor": grantor,
            "esiid": esiid,
            "meter": meter_number,
            "starts_on": starts_on,
            "ends_on": ends_on,
        },
    )
    await session.execute(
        text(
            "INSERT INTO agreement_requests (agreement_id, kind, requested_by_entity_id,"
            " requested_by_client_id, decider_entity_id, term_months, invitee_login)"
            " VALUES (:id, :kind, :requested_by, :client_id, :decider, :term, :invitee)"
        ),
        {
            "id": agreement_id,
            "kind": kind,
            "requested_by": requested_by,
            "client_id": requested_by_client_id,
            "decider": decider,
            "term": term_months,
            "invitee": invitee_login,
        },
    )
    return agreement_id


async def agreement(
    session: AsyncSession, agreement_id: uuid.UUID, *, for_update: bool = False
) -> RowMapping | None:
    lock = " FOR UPDATE OF a" if for_update else ""
    row = await session.execute(
        text(f"SELECT {_AGREEMENT_COLUMNS} {_AGREEMENT_FROM} WHERE a.id = :id{lock}"),
        {"id": agreement_id},
    )
    return row.mappings().first()


async def agreements_of(
    session: AsyncSession,
    entity_id: uuid.UUID | None,
    *,
    esiid: str | None,
    status: str | None,
    limit: int,
    today: date,
    pending_since: datetime,
) -> list[RowMapping]:
    """Agreements the entity is party to (``None``: every agreement, for operators).

    ``status`` filters on the status as shown (see ``shown_status``).
    """
    where = ["TRUE"]
    params: dict[str, Any] = {"limit": limit, "today": today, "pending_since": pending_since}
    if entity_id is not None:
        where.append(
            "(a.grantee_entity_id = :me OR a.grantor_entity_id = :me OR r.decider_entity_id = :me)"
        )
        params["me"] = entity_id
    if esiid is not None:
        where.append("a.esiid = :esiid")
        params["esiid"] = esiid
    if status is not None:
        where.append(f"({SHOWN_STATUS_SQL}) = :status")
        params["status"] = status
    rows = await session.execute(
        text(
            f"SELECT {_AGREEMENT_COLUMNS} {_AGREEMENT_FROM}"
            f" WHERE {' AND '.join(where)} ORDER BY a.created_at DESC, a.id LIMIT :limit"
        ),
        params,
    )
    return list(rows.mappings())


# The status as people should see it: an accepted agreement past its end, or a request
# nobody answered in time, is expired even before the job has written so.
SHOWN_STATUS_SQL = (
    "CASE WHEN a.status = 'accepted' AND a.ends_on <= :today THEN 'expired'"
    " WHEN a.status = 'pending' AND a.created_at < :pending_since THEN 'expired'"
    " ELSE a.status END"
)


async def set_status(
    session: AsyncSession,
    agreement_id: uuid.UUID,
    status: str,
    *,
    decided: bool = False,
    revoked: bool = False,
    starts_on: date | None = None,
    ends_on: date | None = None,
) -> None:
    sets = ["status = :status"]
    params: dict[str, Any] = {"id": agreement_id, "status": status}
    if decided:
        sets.append("decided_at = now()")
    if revoked:
        sets.append("revoked_at = now()")
    if starts_on is not None:
        sets.append("starts_on = :starts_on")
        params["starts_on"] = starts_on
    if ends_on is not None:
        sets.append("ends_on = :ends_on")
        params["ends_on"] = ends_on
    await session.execute(
        text(f"UPDATE access_agreements SET {', '.join(sets)} WHERE id = :id"),  # noqa: S608
        params,
    )


async def add_event(
    session: AsyncSession,
    agreement_id: uuid.UUID,
    from_status: str | None,
    to_status: str,
    *,
    actor_entity_id: uuid.UUID | None,
    actor_role: str | None,
    actor_client_id: str | None,
    reason: str | None = None,
) -> None:
    await session.execute(
        text(
            "INSERT INTO agreement_events (agreement_id, from_status, to_status, actor_entity_id,"
            " actor_role, actor_client_id, reason)"
            " VALUES (:id, :from_status, :to_status, :actor, :role, :client, :reason)"
        ),
        {
            "id": agreement_id,
            "from_status": from_status,
            "to_status": to_status,
            "actor": actor_entity_id,
            "role": actor_role,
            "client": actor_client_id,
            "reason": reason,
        },
    )


async def events(session: AsyncSession, agreement_id: uuid.UUID) -> list[RowMapping]:
    rows = await session.execute(
        text(
            "SELECT id, from_status, to_status, actor_entity_id, actor_role, actor_client_id,"
            " reason, occurred_at FROM agreement_events WHERE agreement_id = :id ORDER BY id"
        ),
        {"id": agreement_id},
    )
    return list(rows.mappings())


async def queue_mail(
    session: AsyncSession,
    agreement_id: uuid.UUID,
    purpose: str,
    recipient: str,
    subject: str,
    body: str,
) -> int:
    mail_id = await session.scalar(
        text(
            "INSERT INTO agreement_mails (agreement_id, purpose, recipient, subject, body)"
            " VALUES (:id, :purpose, :recipient, :subject, :body) RETURNING id"
        ),
        {
            "id": agreement_id,
            "purpose": purpose,
            "recipient": recipient,
            "subject": subject,
            "body": body,
        },
    )
    assert mail_id is not None
    return int(mail_id)


async def claim_mail(session: AsyncSession, only: Sequence[int] | None) -> RowMapping | None:
    """One due mail, locked for this transaction (another sender skips it)."""
    restrict = " AND id = ANY(CAST(:only AS bigint[]))" if only is not None else ""
    row = await session.execute(
        text(
            "SELECT id, recipient, subject, body, attempts FROM agreement_mails"  # noqa: S608
            f" WHERE status = 'pending' AND next_attempt_at <= clock_timestamp(){restrict}"
            " ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED"
        ),
        {"only": list(only)} if only is not None else {},
    )
    return row.mappings().first()


async def mail_sent(session: AsyncSession, mail_id: int) -> None:
    await session.execute(
        text(
            "UPDATE agreement_mails SET status = 'sent', sent_at = now(),"
            " attempts = attempts + 1, last_error = NULL WHERE id = :id"
        ),
        {"id": mail_id},
    )


async def mail_failed(
    session: AsyncSession, mail_id: int, error: str, *, final: bool, retry_seconds: float
) -> None:
    await session.execute(
        text(
            "UPDATE agreement_mails SET attempts = attempts + 1, last_error = :error,"
            " status = CASE WHEN :final THEN 'failed' ELSE 'pending' END,"
            " next_attempt_at = clock_timestamp() + make_interval(secs => :delay) WHERE id = :id"
        ),
        {"id": mail_id, "error": error[:2000], "final": final, "delay": retry_seconds},
    )


async def mails_of(session: AsyncSession, agreement_id: uuid.UUID) -> list[RowMapping]:
    rows = await session.execute(
        text(
            "SELECT purpose, recipient, status, attempts, last_error, created_at, sent_at"
            " FROM agreement_mails WHERE agreement_id = :id ORDER BY id"
        ),
        {"id": agreement_id},
    )
    return list(rows.mappings())


async def expire_due(
    session: AsyncSession, today: date, pending_since: datetime
) -> list[RowMapping]:
    """Flip (for display) agreements past their end and requests nobody answered in time.

    Reads never wait for this: the access SQL already ignores an agreement past its end.
    """
    rows = await session.execute(
        text(
            "UPDATE access_agreements a SET status = 'expired'"
            " WHERE (a.status = 'accepted' AND a.ends_on <= :today)"
            " OR (a.status = 'pending' AND a.created_at < :pending_since)"
            " RETURNING a.id, CASE WHEN a.decided_at IS NULL THEN 'pending' ELSE 'accepted' END"
            " AS from_status, a.ends_on"
        ),
        {"today": today, "pending_since": pending_since},
    )
    return list(rows.mappings())
