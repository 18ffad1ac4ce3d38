"""The access rules as SQL: which operating days of which ESI IDs a principal may read.

``visible_periods_sql(role, ...)`` is a subquery returning ``(esiid, from_day, to_day)`` rows,
one per period a rule grants, ``to_day`` exclusive (``'infinity'`` while open). Every read
joins its data to it inside the one statement that fetches the data, so nothing is checked
after the fact and an ESI ID the caller may not see looks exactly like one that does not
exist. Each rule is one UNION ALL branch:

- ``territory``: a TDSP sees the ESI IDs whose ``esiids.tdsp_duns`` is its DUNS, all days;
- ``service_history``: a REP sees the days it was REP of record (``service_history``);
- ``customer_link``: a customer sees its linked ESI IDs from the link's start (to its end);
- ``agreement``: a grantee (CSP, friend, or any company a customer chose) sees the days
  ``[starts_on, ends_on)`` of an agreement that is accepted, not revoked, already started and
  not yet ended (``ends_on > today``): it stops the day it expires or the moment it is revoked,
  whether or not a job has updated its status yet;
- ``market``: a regulator sees every ESI ID that exists (SMT's "Regulatory" users read usage
  for the last 13 months, seed 004), the window is applied by the caller.

Operators and services have no rule: every per-ESI ID read answers 404 for them.

How far back a role may look (48/13/24 months) is not a rule here but a floor the caller
passes as ``:floor`` (see ``access.service``), so the same subquery serves every data kind.
Parameters: ``:esiid`` (or ``:esiids``, a text array, for set-based reads), ``:duns``,
``:entity_id``, ``:today``.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from functools import lru_cache

from meterhub_common.models.usage_api import Role


class Rule(StrEnum):
    TERRITORY = "territory"
    SERVICE_HISTORY = "service_history"
    CUSTOMER_LINK = "customer_link"
    AGREEMENT = "agreement"
    MARKET = "market"


# {match} becomes "= :esiid" or "= ANY(:esiids)".
_BRANCHES: Mapping[Rule, str] = {
    Rule.TERRITORY: (
        "SELECT e.esiid, DATE '-infinity' AS from_day, DATE 'infinity' AS to_day"
        " FROM esiids e WHERE e.esiid {match} AND e.tdsp_duns = :duns"
    ),
    Rule.SERVICE_HISTORY: (
        "SELECT sh.esiid, sh.start_date AS from_day,"
        " COALESCE(sh.end_date, DATE 'infinity') AS to_day"
        " FROM service_history sh WHERE sh.esiid {match} AND sh.rep_duns = :duns"
    ),
    Rule.CUSTOMER_LINK: (
        "SELECT l.esiid, l.start_date AS from_day, COALESCE(l.end_date, DATE 'infinity') AS to_day"
        " FROM customer_esiid_links l WHERE l.esiid {match} AND l.entity_id = :entity_id"
    ),
    Rule.AGREEMENT: (
        "SELECT a.esiid, a.starts_on AS from_day, a.ends_on AS to_day"
        " FROM access_agreements a WHERE a.esiid {match} AND a.grantee_entity_id = :entity_id"
        " AND a.status = 'accepted' AND a.revoked_at IS NULL"
        " AND a.starts_on <= :today AND a.ends_on > :today"
    ),
    Rule.MARKET: (
        "SELECT e.esiid, DATE '-infinity' AS from_day, DATE 'infinity' AS to_day"
        " FROM esiids e WHERE e.esiid {match}"
    ),
}

ROLE_RULES: Mapping[Role, tuple[Rule, ...]] = {
    Role.TDSP: (Rule.TERRITORY, Rule.AGREEMENT),
    Role.REP: (Rule.SERVICE_HISTORY, Rule.AGREEMENT),
    Role.CUSTOMER: (Rule.CUSTOMER_LINK, Rule.AGREEMENT),
    Role.CSP: (Rule.AGREEMENT,),
    Role.REGULATOR: (Rule.MARKET,),
    Role.OPERATOR: (),
    Role.SERVICE: (),
}

_NOTHING = "SELECT NULL::varchar AS esiid, NULL::date AS from_day, NULL::date AS to_day WHERE false"


@lru_cache(maxsize=64)
def visible_periods_sql(role: Role, *, many: bool = False) -> str:
    """The subquery of periods ``role`` may read: ``(esiid, from_day, to_day)``, unclipped.

    ``many`` matches the ESI IDs in the text array ``:esiids`` instead of the one ``:esiid``.
    """
    match = "= ANY(:esiids)" if many else "= :esiid"
    branches = [_BRANCHES[rule].format(match=match) for rule in ROLE_RULES[role]]
    return "\nUNION ALL\n".join(branches) if branches else _NOTHING


def periods_ctes(role: Role) -> str:
    """``visible`` (the rules) and ``periods`` (clipped to ``[:lo, :hi)``) for one ESI ID.

    ``periods`` is empty exactly when the caller may not see the ESI ID in the range, which
    every read turns into the same 404 as an unknown ESI ID. ``:lo`` is already raised to the
    role's floor by the caller.
    """
    return (
        f"visible AS (\n{visible_periods_sql(role)}\n),\n"  # noqa: S608 (fixed fragments)
        "periods AS (\n"
        "  SELECT GREATEST(v.from_day, :lo) AS lo, LEAST(v.to_day, :hi) AS hi FROM visible v\n"
        "  WHERE GREATEST(v.from_day, :lo) < LEAST(v.to_day, :hi)\n"
        ")"
    )
