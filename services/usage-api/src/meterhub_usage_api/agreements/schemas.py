"""Request and response shapes of ``/v1/agreements``."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from meterhub_common.models.usage_api import AGREEMENT_TERMS_MONTHS

EXAMPLE_ESIID = "10443720000000001"
ESIID_PATTERN = r"^[A-Za-z0-9]{1,64}$"
TERMS_TEXT = ", ".join(str(m) for m in AGREEMENT_TERMS_MONTHS)

AgreementStatusText = Literal["pending", "accepted", "declined", "expired", "revoked"]


class MeterPointIn(BaseModel):
    esiid: str = Field(pattern=ESIID_PATTERN, examples=[EXAMPLE_ESIID])
    meter_number: str = Field(
        min_length=1,
        max_length=64,
        description="The meter number as printed on the meter or the bill.",
        examples=["113456789"],
    )


class DataSharingRequest(BaseModel):
    """A CSP's (or a REP's) request to read a customer's ESI IDs."""

    esiids: list[MeterPointIn] = Field(
        min_length=1,
        max_length=100,
        description="The ESI IDs, each with its meter number (proof the customer gave them).",
    )
    months: int = Field(
        description=f"The agreement's term in months: one of {TERMS_TEXT}; at most 12 for a "
        "residential premise.",
        examples=[12],
    )


class FriendInvitation(BaseModel):
    """A customer lets another customer account (a friend) read one of its ESI IDs."""

    friend: str = Field(
        min_length=1,
        max_length=320,
        description="The friend's Meterhub username or account email.",
        examples=["bob"],
    )
    esiid: str = Field(pattern=ESIID_PATTERN, examples=[EXAMPLE_ESIID])
    months: int = Field(description=f"One of {TERMS_TEXT}; at most 12 for a residential premise.")


class RevokeIn(BaseModel):
    reason: str | None = Field(default=None, max_length=500, examples=["moved to another CSP"])


class AgreementEventOut(BaseModel):
    from_status: str | None = Field(description="null for the request itself.")
    to_status: str
    actor_entity_id: uuid.UUID | None = Field(description="null: the expiry job.")
    actor_role: str | None
    actor_client_id: str | None
    reason: str | None
    occurred_at: datetime


class AgreementMailOut(BaseModel):
    purpose: str = Field(examples=["request"])
    recipient: str
    status: Literal["pending", "sent", "failed"]
    attempts: int
    last_error: str | None
    sent_at: datetime | None


class AgreementOut(BaseModel):
    id: uuid.UUID
    kind: Literal["data_sharing", "friend"]
    status: AgreementStatusText = Field(
        description="As it stands today: an accepted agreement past its end, or a request "
        "nobody answered in time, shows as expired."
    )
    esiid: str = Field(examples=[EXAMPLE_ESIID])
    meter_number: str
    grantee_entity_id: uuid.UUID
    grantee_name: str
    grantor_entity_id: uuid.UUID
    grantor_name: str
    decider_entity_id: uuid.UUID = Field(description="Who may accept or decline.")
    term_months: int = Field(examples=[12])
    data_from: date = Field(
        description="The first operating day the grantee may read (the grantor's link start; "
        "the grantee's 13-month window applies on top)."
    )
    ends_on: date = Field(
        description="The day access ends (exclusive). While pending: if accepted today."
    )
    created_at: datetime
    decided_at: datetime | None
    revoked_at: datetime | None
    invitee_login: str | None = Field(description="Friend invitations: the login typed.")


class AgreementDetail(AgreementOut):
    events: list[AgreementEventOut] = Field(description="Every status change: who, when, from, to.")
    mails: list[AgreementMailOut] = Field(description="The emails this agreement caused.")


class AgreementList(BaseModel):
    agreements: list[AgreementOut]
