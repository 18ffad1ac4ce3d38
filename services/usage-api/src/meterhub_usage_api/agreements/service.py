"""The rules of agreements.

- A CSP (or a REP) names ESI IDs with their meter numbers; a wrong meter number gets the same
  404 as an unknown ESI ID, so the pair works as the customer's consent to be asked. The
  customer holding the ESI ID today decides; a term of 1, 3, 6, 9, 12, 24 or 36 months, at
  most 12 for a residential premise, runs from the day it is accepted.
- A customer invites a friend (another customer account, by username or email) to read one of
  its ESI IDs; the friend decides.
- The grantee reads from the grantor's link start (``starts_on``; its own 13-month window
  applies on top) until ``ends_on`` (exclusive). The access SQL stops reads the day an
  agreement ends or the moment it is revoked, whatever the status column says yet.
- Every change writes an ``agreement_events`` row (who, when, from, to) and queues its mail.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from meterhub_common.auth import Principal
from meterhub_common.errors import Conflict, Forbidden, NotFound, Unprocessable
from meterhub_common.models.usage_api import (
    AGREEMENT_TERMS_MONTHS,
    RESIDENTIAL_MAX_TERM_MONTHS,
    AgreementKind,
    AgreementStatus,
    Role,
)
from meterhub_usage_api.access.service import months_before
from meterhub_usage_api.agreements import mails, repository
from meterhub_usage_api.agreements.schemas import DataSharingRequest, FriendInvitation

REQUESTER_ROLES = frozenset({Role.CSP, Role.REP})


@dataclass(frozen=True, slots=True)
class Clock:
    """The operating day rules are checked on, and how long a request may wait for an answer."""

    today: date
    pending_days: int

    @property
    def pending_since(self) -> datetime:
        return datetime.now(UTC) - timedelta(days=self.pending_days)


@dataclass(frozen=True, slots=True)
class MailContext:
    base_url: str
    pending_days: int


def months_after(day: date, months: int) -> date:
    return months_before(day, -months)


def check_term(months: int, premise_types: dict[str, str]) -> None:
    if months not in AGREEMENT_TERMS_MONTHS:
        allowed = ", ".join(str(m) for m in AGREEMENT_TERMS_MONTHS)
        raise Unprocessable(f"months={months} is not a term on offer; choose one of {allowed}")
    residential = sorted(e for e, kind in premise_types.items() if kind == "residential")
    if months > RESIDENTIAL_MAX_TERM_MONTHS and residential:
        raise Unprocessable(
            f"an agreement for a residential premise runs at most {RESIDENTIAL_MAX_TERM_MONTHS} "
            f"months; ESI ID {', '.join(residential)} is residential and {months} were asked"
        )


def shown_status(row: RowMapping, clock: Clock) -> str:
    status = str(row["status"])
    if status == AgreementStatus.ACCEPTED and row["ends_on"] <= clock.today:
        return AgreementStatus.EXPIRED.value
    if status == AgreementStatus.PENDING and row["created_at"] < clock.pending_since:
        return AgreementStatus.EXPIRED.value
    return status


def _not_found(agreement_id: uuid.UUID) -> NotFound:
    return NotFound(f"agreement {agreement_id} was not found")


def _is_party(row: RowMapping, principal: Principal) -> bool:
    me = principal.entity_id
    return me in (row["grantee_entity_id"], row["grantor_entity_id"], row["decider_entity_id"])


async def request_data_sharing(
    session: AsyncSession,
    principal: Principal,
    body: DataSharingRequest,
    clock: Clock,
    mail: MailContext,
) -> tuple[list[uuid.UUID], list[int]]:
    """Create one pending agreement per ESI ID and queue a mail to each customer."""
    if principal.role not in REQUESTER_ROLES:
        raise Forbidden("energy data sharing agreements are requested by CSP and REP clients")
    pairs = [(p.esiid, p.meter_number.strip()) for p in body.esiids]
    if len({esiid for esiid, _ in pairs}) != len(pairs):
        raise Unprocessable("an ESI ID appears more than once in the request")
    if body.months not in AGREEMENT_TERMS_MONTHS:
        check_term(body.months, {})
    found = await repository.meter_points(session, pairs, clock.today)
    unknown = [f"{e} (meter {m})" for e, m in pairs if (e, m) not in found]
    if unknown:
        raise NotFound(
            f"no ESI ID with that meter number was found: {', '.join(unknown)}; check both "
            "numbers on the customer's bill"
        )
    check_term(body.months, {p.esiid: p.premise_type for p in found.values()})
    esiids = [e for e, _ in pairs]
    holders = await repository.current_holders(session, esiids, clock.today)
    unheld = [e for e in esiids if e not in holders]
    if unheld:
        raise Unprocessable(
            f"no customer account holds ESI ID {', '.join(unheld)} to ask for consent; the "
            "customer must register the meter with Meterhub first"
        )
    for esiid in esiids:
        if await repository.open_agreement_exists(
            session, principal.entity_id, esiid, clock.today, clock.pending_since
        ):
            raise Conflict(
                f"an agreement for ESI ID {esiid} is already pending or in force for you; "
                "revoke it first or wait for the customer's answer"
            )
    contact = await repository.entity_contact(session, principal.entity_id)
    requester = str(contact["name"]) if contact else principal.client_id
    created: list[uuid.UUID] = []
    mail_ids: list[int] = []
    for esiid, meter in pairs:
        holder = holders[esiid]
        agreement_id = await repository.insert_agreement(
            session,
            grantee=principal.entity_id,
            grantor=holder.entity_id,
            esiid=esiid,
            meter_number=meter,
            starts_on=holder.since,
            ends_on=months_after(clock.today, body.months),
            kind=AgreementKind.DATA_SHARING.value,
            requested_by=principal.entity_id,
            requested_by_client_id=principal.client_id,
            decider=holder.entity_id,
            term_months=body.months,
        )
        await _event(session, agreement_id, None, AgreementStatus.PENDING, principal)
        subject, text = mails.request_mail(
            base_url=mail.base_url,
            agreement_id=str(agreement_id),
            requester=requester,
            esiid=esiid,
            meter_number=meter,
            months=body.months,
            pending_days=mail.pending_days,
        )
        mail_ids.append(
            await repository.queue_mail(
                session, agreement_id, "request", holder.email, subject, text
            )
        )
        created.append(agreement_id)
    return created, mail_ids


async def invite_friend(
    session: AsyncSession,
    principal: Principal,
    body: FriendInvitation,
    clock: Clock,
    mail: MailContext,
) -> tuple[uuid.UUID, list[int]]:
    if principal.role is not Role.CUSTOMER:
        raise Forbidden("friends are invited by customers, for ESI IDs linked to their account")
    holder = await repository.holder_link(session, principal.entity_id, body.esiid, clock.today)
    if holder is None:
        raise NotFound(f"ESI ID {body.esiid} was not found")
    premise = await repository.premise_type(session, body.esiid)
    check_term(body.months, {body.esiid: premise or ""})
    matches = await repository.customers_by_login(session, body.friend.strip())
    if not matches:
        raise NotFound(f"no customer account has the username or email {body.friend!r}")
    friend = matches[0]
    if friend["entity_id"] == principal.entity_id:
        raise Unprocessable("you cannot invite yourself; you already see this ESI ID")
    if await repository.open_agreement_exists(
        session, friend["entity_id"], body.esiid, clock.today, clock.pending_since
    ):
        raise Conflict(
            f"{friend['username']} already has a pending or running agreement for {body.esiid}"
        )
    agreement_id = await repository.insert_agreement(
        session,
        grantee=friend["entity_id"],
        grantor=principal.entity_id,
        esiid=body.esiid,
        meter_number=holder.meter_number,
        starts_on=holder.since,
        ends_on=months_after(clock.today, body.months),
        kind=AgreementKind.FRIEND.value,
        requested_by=principal.entity_id,
        requested_by_client_id=principal.client_id,
        decider=friend["entity_id"],
        term_months=body.months,
        invitee_login=body.friend.strip(),
    )
    await _event(session, agreement_id, None, AgreementStatus.PENDING, principal)
    contact = await repository.entity_contact(session, principal.entity_id)
    subject, text = mails.invitation_mail(
        base_url=mail.base_url,
        agreement_id=str(agreement_id),
        inviter=str(contact["name"]) if contact else holder.username,
        esiid=body.esiid,
        months=body.months,
        pending_days=mail.pending_days,
    )
    mail_id = await repository.queue_mail(
        session, agreement_id, "invitation", friend["email"], subject, text
    )
    return agreement_id, [mail_id]


async def _event(
    session: AsyncSession,
    agreement_id: uuid.UUID,
    from_status: str | None,
    to_status: str,
    principal: Principal,
    reason: str | None = None,
) -> None:
    await repository.add_event(
        session,
        agreement_id,
        from_status,
        to_status,
        actor_entity_id=principal.entity_id,
        actor_role=principal.role.value,
        actor_client_id=principal.client_id,
        reason=reason,
    )


async def visible_agreement(
    session: AsyncSession, principal: Principal, agreement_id: uuid.UUID, *, lock: bool = False
) -> RowMapping:
    row = await repository.agreement(session, agreement_id, for_update=lock)
    if row is None or not (principal.role is Role.OPERATOR or _is_party(row, principal)):
        raise _not_found(agreement_id)
    return row


async def decide(
    session: AsyncSession,
    principal: Principal,
    agreement_id: uuid.UUID,
    *,
    accept: bool,
    clock: Clock,
) -> tuple[RowMapping, list[int]]:
    row = await visible_agreement(session, principal, agreement_id, lock=True)
    if row["decider_entity_id"] != principal.entity_id:
        who = "the customer" if row["kind"] == AgreementKind.DATA_SHARING else "the invited friend"
        raise Forbidden(f"only {who} may accept or decline agreement {agreement_id}")
    status = shown_status(row, clock)
    if status != AgreementStatus.PENDING:
        raise Conflict(f"agreement {agreement_id} is {status}; only a pending one can be answered")
    if not accept:
        await repository.set_status(session, agreement_id, AgreementStatus.DECLINED, decided=True)
        await _event(session, agreement_id, row["status"], AgreementStatus.DECLINED, principal)
        mail_ids = await _decision_mail(session, row, principal, accepted=False, ends_on=None)
        return row, mail_ids
    # The grantor must still hold the ESI ID: a customer who moved out cannot share the data
    # of the next occupant.
    holder = await repository.holder_link(
        session, row["grantor_entity_id"], row["esiid"], clock.today
    )
    if holder is None:
        raise Conflict(
            f"the customer no longer holds ESI ID {row['esiid']}; agreement {agreement_id} "
            "cannot take effect"
        )
    ends_on = months_after(clock.today, int(row["term_months"]))
    await repository.set_status(
        session,
        agreement_id,
        AgreementStatus.ACCEPTED,
        decided=True,
        starts_on=holder.since,
        ends_on=ends_on,
    )
    await _event(session, agreement_id, row["status"], AgreementStatus.ACCEPTED, principal)
    mail_ids = await _decision_mail(session, row, principal, accepted=True, ends_on=ends_on)
    return row, mail_ids


async def _decision_mail(
    session: AsyncSession,
    row: RowMapping,
    principal: Principal,
    *,
    accepted: bool,
    ends_on: date | None,
) -> list[int]:
    recipient = await repository.entity_contact(session, row["requested_by_entity_id"])
    if recipient is None or not recipient["email"]:
        return []
    decider = await repository.entity_contact(session, principal.entity_id)
    subject, text = mails.decision_mail(
        agreement_id=str(row["id"]),
        decider=str(decider["name"]) if decider else "The customer",
        esiid=row["esiid"],
        accepted=accepted,
        ends_on=ends_on,
    )
    return [
        await repository.queue_mail(
            session, row["id"], "decision", str(recipient["email"]), subject, text
        )
    ]


async def revoke(
    session: AsyncSession,
    principal: Principal,
    agreement_id: uuid.UUID,
    *,
    reason: str | None,
    clock: Clock,
) -> tuple[RowMapping, list[int]]:
    """The grantor or the grantee ends a pending or running agreement, effective at once."""
    row = await visible_agreement(session, principal, agreement_id, lock=True)
    me = principal.entity_id
    if me not in (row["grantor_entity_id"], row["grantee_entity_id"]):
        raise Forbidden(f"only the parties to agreement {agreement_id} may revoke it")
    status = shown_status(row, clock)
    if status not in (AgreementStatus.PENDING, AgreementStatus.ACCEPTED):
        raise Conflict(f"agreement {agreement_id} is {status}; there is nothing to revoke")
    await repository.set_status(session, agreement_id, AgreementStatus.REVOKED, revoked=True)
    await _event(session, agreement_id, row["status"], AgreementStatus.REVOKED, principal, reason)
    other = row["grantee_entity_id"] if me == row["grantor_entity_id"] else row["grantor_entity_id"]
    recipient = await repository.entity_contact(session, other)
    if recipient is None or not recipient["email"]:
        return row, []
    revoker = await repository.entity_contact(session, me)
    subject, text = mails.revocation_mail(
        agreement_id=str(agreement_id),
        revoker=str(revoker["name"]) if revoker else principal.client_id,
        esiid=row["esiid"],
        reason=reason,
    )
    mail_id = await repository.queue_mail(
        session, agreement_id, "revocation", str(recipient["email"]), subject, text
    )
    return row, [mail_id]


async def expire(session: AsyncSession, clock: Clock) -> int:
    """The job's half of expiry: write ``expired`` (reads already stopped by date)."""
    flipped = await repository.expire_due(session, clock.today, clock.pending_since)
    for row in flipped:
        reason = (
            f"the term ended on {row['ends_on']}"
            if row["from_status"] == AgreementStatus.ACCEPTED
            else f"not answered within {clock.pending_days} days"
        )
        await repository.add_event(
            session,
            row["id"],
            row["from_status"],
            AgreementStatus.EXPIRED,
            actor_entity_id=None,
            actor_role=None,
            actor_client_id=None,
            reason=reason,
        )
    return len(flipped)
