"""Demo market participants, credentials and reference data for the local stack.

Identities and market reference rows are written straight into the database (there is no
API for creating market participants); usage data goes through the real ingest API so the
demo exercises the same path a TDSP does.
"""

from __future__ import annotations

import json
import random
import secrets
import uuid
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path

import asyncpg

from meterhub_common.auth import hash_secret
from meterhub_common.domain.operating_day import intervals_in_day, today_central


@dataclass(frozen=True)
class DemoEntity:
    key: str
    name: str
    role: str
    duns: str | None
    client_id: str
    esiid_prefix: str | None = None  # TDSPs only
    username: str | None = None  # customers sign in with a password


TDSPS = [
    DemoEntity(
        "tdsp-north",
        "North Texas Wires",
        "tdsp",
        "957877905",
        "tdsp-957877905",
        esiid_prefix="10443720",
    ),
    DemoEntity(
        "tdsp-gulf",
        "Gulf Coast Lines",
        "tdsp",
        "957877906",
        "tdsp-957877906",
        esiid_prefix="1008901",
    ),
]
REPS = [
    DemoEntity("rep-bluebonnet", "Bluebonnet Energy", "rep", "111111111", "rep-111111111"),
    DemoEntity("rep-lonestar", "Lone Star Power", "rep", "222222222", "rep-222222222"),
    DemoEntity("rep-pecan", "Pecan Street Electric", "rep", "333333333", "rep-333333333"),
]
OTHERS = [
    DemoEntity("csp-energywise", "EnergyWise Analytics", "csp", "444444444", "csp-444444444"),
    DemoEntity(
        "customer-alice", "Alice Alvarez", "customer", None, "customer-alice", username="alice"
    ),
    DemoEntity("customer-bob", "Bob Bennett", "customer", None, "customer-bob", username="bob"),
    DemoEntity("operator", "Meterhub Operations", "operator", None, "operator"),
    DemoEntity("regulator", "Public Utility Commission", "regulator", None, "regulator"),
    # Internal calls between services (usage-api -> ftps-publisher, notifier probes).
    DemoEntity("service", "Meterhub services", "service", None, "meterhub-service"),
]
ENTITIES = [*TDSPS, *REPS, *OTHERS]
ESIIDS_PER_TDSP = 500
SWITCHING_ESIIDS = 50


def entity_uuid(key: str) -> uuid.UUID:
    """Stable ids, so reruns and the printed credentials agree."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"meterhub-demo:{key}")


def load_or_make_credentials(path: Path) -> dict[str, str]:
    """One random secret per demo client, made on first run and kept in the state folder."""
    if path.exists():
        stored: dict[str, str] = json.loads(path.read_text())
        if all(e.key in stored for e in ENTITIES):
            return stored
    credentials = {e.key: secrets.token_urlsafe(18) for e in ENTITIES}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(credentials, indent=2))
    path.chmod(0o600)
    return credentials


def esiid_for(tdsp: DemoEntity, n: int) -> str:
    assert tdsp.esiid_prefix
    # Oncor-style ids are 17 digits, CenterPoint-style 22: pad the suffix accordingly.
    length = 17 if len(tdsp.esiid_prefix) == 8 else 22
    return tdsp.esiid_prefix + str(n).zfill(length - len(tdsp.esiid_prefix))


def demo_esiids() -> list[tuple[str, DemoEntity]]:
    return [(esiid_for(t, n), t) for t in TDSPS for n in range(1, ESIIDS_PER_TDSP + 1)]


def latest_dst_day(before: date) -> date:
    """The most recent day that is not 96 intervals long: the demo week surrounds it."""
    day = before - timedelta(days=1)
    while intervals_in_day(day) == 96:
        day -= timedelta(days=1)
    return day


def demo_days(today: date | None = None) -> list[date]:
    today = today or today_central()
    dst = latest_dst_day(today)
    week = [dst + timedelta(days=d) for d in range(-3, 4)]
    recent = [today - timedelta(days=2), today - timedelta(days=1)]
    return sorted({d for d in [*week, *recent] if d < today})


def rep_switch_day(today: date | None = None) -> date:
    return latest_dst_day(today or today_central()) + timedelta(days=2)


def rep_periods(index: int, switch_day: date) -> list[tuple[date, date | None, DemoEntity]]:
    """Service history for the index-th ESI ID: a few switch REPs in the demo week."""
    since = date(2024, 1, 1)
    first = REPS[index % len(REPS)]
    if index % (ESIIDS_PER_TDSP // SWITCHING_ESIIDS) == 0:
        second = REPS[(index + 1) % len(REPS)]
        return [(since, switch_day, first), (switch_day, None, second)]
    return [(since, None, first)]


async def seed_reference_data(database_url: str, credentials: dict[str, str]) -> None:
    """Identities, clients, ESI IDs, meters, service history and customer links (idempotent)."""
    conn = await asyncpg.connect(database_url)
    try:
        async with conn.transaction():
            for e in ENTITIES:
                await conn.execute(
                    "INSERT INTO entities (id, duns, name, role, email) VALUES ($1,$2,$3,$4,$5)"
                    " ON CONFLICT (id) DO NOTHING",
                    entity_uuid(e.key),
                    e.duns,
                    e.name,
                    e.role,
                    f"{e.key}@demo.meterhub.test",
                )
                secret_hash = hash_secret(credentials[e.key])
                if e.username:
                    await conn.execute(
                        "INSERT INTO customer_accounts (entity_id, username, password_hash, email)"
                        " VALUES ($1,$2,$3,$4) ON CONFLICT (entity_id) DO UPDATE"
                        " SET password_hash = EXCLUDED.password_hash",
                        entity_uuid(e.key),
                        e.username,
                        secret_hash,
                        f"{e.username}@demo.test",
                    )
                else:
                    await conn.execute(
                        "INSERT INTO api_clients (client_id, entity_id, secret_hash, description)"
                        " VALUES ($1,$2,$3,$4) ON CONFLICT (client_id) DO UPDATE"
                        " SET secret_hash = EXCLUDED.secret_hash",
                        e.client_id,
                        entity_uuid(e.key),
                        secret_hash,
                        f"demo client of {e.name}",
                    )
            switch = rep_switch_day()
            rng = random.Random(7)
            esiid_rows, meter_rows, history_rows = [], [], []
            for i, (esiid, tdsp) in enumerate(demo_esiids()):
                esiid_rows.append(
                    (
                        esiid,
                        tdsp.duns,
                        "business" if i % 10 == 0 else "residential",
                        f"{100 + i} {rng.choice(['Elm', 'Oak', 'Pecan', 'Mesquite'])} St",
                        "Dallas" if tdsp.key == "tdsp-north" else "Houston",
                        "TX",
                        "75201" if tdsp.key == "tdsp-north" else "77002",
                    )
                )
                meter_rows.append((esiid, f"M{esiid[-8:]}", date(2022, 1, 10)))
                for start, end, rep in rep_periods(i, switch):
                    history_rows.append((esiid, start, end, rep.duns))
            await conn.executemany(
                "INSERT INTO esiids (esiid, tdsp_duns, premise_type, address_line, city, state,"
                " zip_code) VALUES ($1,$2,$3,$4,$5,$6,$7) ON CONFLICT DO NOTHING",
                esiid_rows,
            )
            await conn.executemany(
                "INSERT INTO meters (esiid, meter_number, multiplier, manufacturer, model,"
                " firmware_version, install_date, provision_date) VALUES"
                " ($1,$2,1,'Landis+Gyr','FOCUS AXR-SD','4.2.1',$3,$3) ON CONFLICT DO NOTHING",
                meter_rows,
            )
            await conn.executemany(
                "INSERT INTO service_history (esiid, start_date, end_date, rep_duns)"
                " VALUES ($1,$2,$3,$4) ON CONFLICT DO NOTHING",
                history_rows,
            )
            for customer, (esiid, _) in zip(
                ("customer-alice", "customer-bob"),
                (demo_esiids()[0], demo_esiids()[-1]),
                strict=True,
            ):
                await conn.execute(
                    "INSERT INTO customer_esiid_links (entity_id, esiid, meter_number,"
                    " start_date) VALUES ($1,$2,$3,$4) ON CONFLICT DO NOTHING",
                    entity_uuid(customer),
                    esiid,
                    f"M{esiid[-8:]}",
                    date(2024, 1, 1),
                )
    finally:
        await conn.close()


def credentials_table(credentials: dict[str, str]) -> list[dict[str, str | None]]:
    rows = []
    for e in ENTITIES:
        row = asdict(e)
        row["secret"] = credentials[e.key]
        row["grant"] = "password" if e.username else "client_credentials"
        rows.append(row)
    return rows
