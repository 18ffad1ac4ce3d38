"""Demo usage sent the way a TDSP and a REP would: over HTTPS, through the public APIs.

Each TDSP posts one encrypted LSE file per demo day; each REP registers its PGP public key
and sets its FTPS password. Runs once per state folder (a marker file records it).
"""

from __future__ import annotations

import io
import json
import random
import ssl
import time
import zipfile
from datetime import datetime
from datetime import time as dtime
from pathlib import Path
from typing import Any

import httpx

from meterhub_common.domain.operating_day import CENTRAL
from meterhub_common.pgp import Keyring
from meterhub_devstack import demo
from meterhub_ingest.lse.render import render_lse, synthetic_record

ZIP_DATE = (2020, 1, 1, 0, 0, 0)  # fixed, so the same demo day zips to the same bytes


def _token(client: httpx.Client, usage_api: str, entity: demo.DemoEntity, secret: str) -> str:
    if entity.username:
        form = {"grant_type": "password", "username": entity.username, "password": secret}
    else:
        form = {
            "grant_type": "client_credentials",
            "client_id": entity.client_id,
            "client_secret": secret,
        }
    response = client.post(f"{usage_api}/v1/token", data=form)
    response.raise_for_status()
    token: str = response.json()["access_token"]
    return token


def lse_zip(tdsp: demo.DemoEntity, day: Any, esiids: list[str], reps: dict[str, str]) -> bytes:
    rng = random.Random(f"{tdsp.duns}-{day}")
    created = datetime.combine(day, dtime(6, 0), tzinfo=CENTRAL)
    records = [
        synthetic_record(
            esiid, 4, day, created_at=created, rng=rng, sender=tdsp.duns or "", rep=reps[esiid]
        )
        for esiid in esiids
    ]
    text = "\n".join(render_lse(records)) + "\n"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        name = f"{tdsp.duns}IntervalData{day:%Y%m%d}060000001.lse"
        archive.writestr(zipfile.ZipInfo(name, ZIP_DATE), text)
    return buffer.getvalue()


def _rep_on(esiid_index: int, day: Any) -> str:
    for start, end, rep in demo.rep_periods(esiid_index, demo.rep_switch_day()):
        if start <= day and (end is None or day < end):
            return rep.duns or ""
    raise ValueError("demo service history has a gap")


def load_demo_usage(state: Path, info: dict[str, Any]) -> None:
    marker = state / "demo-usage-loaded"
    if marker.exists():
        return
    credentials = demo.load_or_make_credentials(state / "credentials.json")
    context = ssl.create_default_context(cafile=str(info["ca_cert"]))
    usage_api, ingest, ftps = info["usage-api"], info["ingest"], info["ftps-publisher"]
    with httpx.Client(verify=context, timeout=60.0) as client:
        # REPs register keys first, so the publisher can encrypt their files as data lands.
        _register_rep_keys(client, state, usage_api, ftps, credentials)
        repository_key = client.get(f"{ingest}/v1/pgp-key").text
        sender_keyring = Keyring(state / "gnupg" / "tdsps")
        repository_fpr = sender_keyring.import_keys(repository_key)[0]
        all_esiids = demo.demo_esiids()
        file_ids = []
        for tdsp in demo.TDSPS:
            token = _token(client, usage_api, tdsp, credentials[tdsp.key])
            indexed = [(i, e) for i, (e, t) in enumerate(all_esiids) if t.key == tdsp.key]
            for day in demo.demo_days():
                reps = {e: _rep_on(i, day) for i, e in indexed}
                payload = lse_zip(tdsp, day, [e for _, e in indexed], reps)
                body = sender_keyring.encrypt(payload, repository_fpr, armor=False)
                response = client.post(
                    f"{ingest}/v1/files",
                    params={"kind": "lse"},
                    content=body,
                    headers={
                        "Authorization": f"Bearer {token}",
                        "Content-Type": "application/octet-stream",
                    },
                )
                response.raise_for_status()
                file_ids.append((token, response.json()["file_id"]))
        _wait_loaded(client, ingest, file_ids)
    marker.write_text(json.dumps({"files": [f for _, f in file_ids]}))


def _wait_loaded(client: httpx.Client, ingest: str, files: list[tuple[str, str]]) -> None:
    deadline = time.monotonic() + 300
    for token, file_id in files:
        while True:
            status = client.get(
                f"{ingest}/v1/files/{file_id}", headers={"Authorization": f"Bearer {token}"}
            ).json()["status"]
            if status in ("loaded", "partially loaded", "rejected"):
                if status != "loaded":
                    raise RuntimeError(f"demo file {file_id} ended {status}")
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"demo file {file_id} still {status} after 5 minutes")
            time.sleep(0.5)


def _register_rep_keys(
    client: httpx.Client, state: Path, usage_api: str, ftps: str, credentials: dict[str, str]
) -> None:
    """Each REP makes a key pair (kept in the state folder to decrypt its files) and registers
    the public half; its FTPS password is its demo secret."""
    operator_entity = next(e for e in demo.OTHERS if e.role == "operator")
    operator_token = _token(client, usage_api, operator_entity, credentials[operator_entity.key])
    operator = {"Authorization": f"Bearer {operator_token}"}
    for rep in demo.REPS:
        keyring = Keyring(state / "gnupg" / f"rep-{rep.duns}")
        secrets_held = keyring.gpg.list_keys(secret=True)
        fpr = (
            secrets_held[0]["fingerprint"]
            if secrets_held
            else keyring.generate_key(f"{rep.name} (demo)", f"{rep.key}@demo.meterhub.test")
        )
        token = _token(client, usage_api, rep, credentials[rep.key])
        auth = {"Authorization": f"Bearer {token}"}
        registered = client.post(
            f"{ftps}/v1/keys", headers=auth, json={"armored_key": keyring.export_public(fpr)}
        )
        if registered.status_code != 409:  # 409: registered on an earlier run
            registered.raise_for_status()
            # A REP's first key is active at once; a rotation waits for this confirmation.
            if registered.json().get("status") == "pending":
                client.post(f"{ftps}/v1/keys/{fpr}/confirm", headers=auth).raise_for_status()
        # The operator opens the REP's FTPS account; the REP then sets its own password.
        client.put(
            f"{ftps}/v1/accounts/{rep.duns}", headers=operator, json={"disabled": False}
        ).raise_for_status()
        client.post(
            f"{ftps}/v1/account/password", headers=auth, json={"password": credentials[rep.key]}
        ).raise_for_status()
