"""The message status machine, with seed 004's status codes.

``RQA`` is Meterhub's (request accepted and sent to TDSP). ``ACK`` is recorded when the
TDSP head-end acknowledges receipt (its synchronous SOAP answer, or a report). Then the TDSP
reports ``PEN``, ``STR`` (a load control event started), ``CON`` (delivery confirmed),
``OPT`` (a customer opted out of a load control event) and ``FLR`` (delivery failed).

A message has one status of its own, and each HAN device the TDSP reports about has its own
track (the log's DeviceMACAddr column). A device track starts where the message reached the
meter, so its first status may be any status after ``ACK``.
"""

from __future__ import annotations

from typing import Final

from meterhub_common.models.han import EventCategory, MessageStatusCode

C = MessageStatusCode

TRANSITIONS: Final[dict[MessageStatusCode, frozenset[MessageStatusCode]]] = {
    # PEN and FLR may overtake the head-end's own acknowledgement (they race on the wire).
    C.RQA: frozenset({C.ACK, C.PEN, C.FLR}),
    C.ACK: frozenset({C.PEN, C.STR, C.CON, C.OPT, C.FLR}),
    C.PEN: frozenset({C.STR, C.CON, C.OPT, C.FLR}),
    C.STR: frozenset({C.CON, C.OPT, C.FLR}),
    C.CON: frozenset({C.OPT}),
    C.OPT: frozenset(),
    C.FLR: frozenset(),
}

DEVICE_TRACK_START: Final = frozenset({C.PEN, C.STR, C.CON, C.OPT, C.FLR})

EVENT_ONLY: Final = frozenset({C.STR, C.OPT})
"""Codes that only a load control event can have (an event starts; a customer opts out)."""


def refusal(
    category: EventCategory,
    current: MessageStatusCode | None,
    reported: MessageStatusCode,
) -> str | None:
    """Why a TDSP report cannot be applied, or None if it can.

    ``current`` is None for the first report on a device track.
    """
    if reported is C.RQA:
        return "status 'RQA' is set by Meterhub when it accepts a request"
    if reported in EVENT_ONLY and category is not EventCategory.LCE:
        return f"status {reported.value!r} applies only to load control events, not {category}"
    if current is None:
        if reported in DEVICE_TRACK_START:
            return None
        return f"a device's first status cannot be {reported.value!r}"
    if reported not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(c.value for c in TRANSITIONS[current])) or "none"
        return (
            f"a message in status {current.value!r} cannot move to {reported.value!r} "
            f"(allowed: {allowed})"
        )
    return None


DESCRIPTIONS: Final[dict[MessageStatusCode, str]] = {
    C.RQA: "Request accepted and sent to TDSP",
    C.ACK: "Acknowledgment from TDSP that the message request has been received",
    C.PEN: "Pending",
    C.STR: "Event started",
    C.CON: "Confirmed delivery",
    C.OPT: "Opt out",
    C.FLR: "Failure delivery",
}
"""Seed 004's descriptions, used when a report gives none."""
