"""File-level faults: each rejects the whole file with its code, and stores nothing."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from meterhub_ingest.files.pipeline import LoadContext
from tests.ingest.files.conftest import (
    SENDER,
    Keys,
    add_esiids,
    esiid,
    load,
    lse_bytes,
    record,
    report,
    seal,
    send,
)


def _good(n: int = 3) -> bytes:
    return lse_bytes([record(i) for i in range(1, n + 1)])


def _two_members(keys: Keys) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.lse", _good(1))
        archive.writestr("b.lse", _good(1))
    return keys.tdsp.encrypt(buffer.getvalue(), keys.repo_fpr, armor=False)


def _damaged_zip(keys: Keys) -> bytes:
    whole = bytearray(zipfile_bytes(_good(3)))
    # Corrupt the deflated data in the middle; the directory at the end stays readable.
    middle = len(whole) // 2
    whole[middle : middle + 64] = bytes(64)
    return keys.tdsp.encrypt(bytes(whole), keys.repo_fpr, armor=False)


def _cut_after_header(data: bytes) -> bytes:
    """The file stops right after the last record's 00000001 row, as if the upload broke."""
    return data[: data.rindex(b"\n00000002,") + 1]


def zipfile_bytes(data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("data.lse", data)
    return buffer.getvalue()


CASES: dict[str, tuple[Callable[[Keys], bytes], str, str]] = {
    "not a zip": (
        lambda k: k.tdsp.encrypt(_good(), k.repo_fpr, armor=False),
        "F10",
        "not a zip archive",
    ),
    "zip with two files": (_two_members, "F10", "exactly one"),
    "damaged zip": (_damaged_zip, "F10", "damaged"),
    "not decryptable (garbage)": (lambda k: b"\x85" + bytes(range(256)) * 8, "F11", "cannot"),
    "not decryptable (truncated)": (
        lambda k: seal(k, _good(200))[:-2000],
        "F11",
        "corrupted or truncated",
    ),
    "encrypted to another key": (
        lambda k: k.tdsp.encrypt(zipfile_bytes(_good()), k.stranger_fpr, armor=False),
        "F12",
        "none of which is ours",
    ),
    "too many records": (lambda k: seal(k, _good(4)), "F1", "more than 3 records"),
    "empty": (lambda k: seal(k, b""), "F13", "empty"),
    "only blank lines": (lambda k: seal(k, b"\n\n  \n"), "F13", "blank"),
    "truncated": (lambda k: seal(k, _cut_after_header(_good(2))), "F14", "cut off"),
    "no header row": (lambda k: seal(k, b"hello,world\n" + _good(1)), "F2", "00000001"),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_file_level_fault_rejects_the_whole_file(
    case: str,
    client: httpx.AsyncClient,
    auth: dict[str, str],
    keys: Keys,
    connection: AsyncConnection,
    raw: asyncpg.Connection,
    ctx: LoadContext,
) -> None:
    make, code, words = CASES[case]
    await add_esiids(connection, [esiid(i) for i in range(1, 201)])
    ctx.max_records = 3 if case == "too many records" else 50_000
    sent = await send(client, auth, make(keys))
    [outcome] = await load(raw, ctx)
    assert (outcome.status, outcome.error_code) == ("rejected", code)

    view = (await client.get(f"/v1/files/{sent['file_id']}", headers=auth)).json()
    assert view["status"] == "rejected"
    assert view["error"]["code"] == code
    assert words in view["error"]["message"]
    assert view["error"]["description"]
    assert view["counts"]["loaded"] == 0
    lines = await report(client, auth, sent["file_id"])
    assert [line["code"] for line in lines] == [code]
    stored = await connection.scalar(
        text("SELECT count(*) FROM interval_reads WHERE source_file_id = :f"),
        {"f": sent["file_id"]},
    )
    assert stored == 0
    # Final: the file is not taken up again.
    assert await load(raw, ctx) == []


async def test_signature_required_when_the_tdsp_registered_a_key(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    keys: Keys,
    connection: AsyncConnection,
    raw: asyncpg.Connection,
    ctx: LoadContext,
) -> None:
    await add_esiids(connection, [esiid(1), esiid(2)])
    ctx.expected_signers = {SENDER: keys.tdsp_fpr}
    unsigned = await send(client, auth, seal(keys, lse_bytes([record(1)])))
    signed = await send(client, auth, seal(keys, lse_bytes([record(2)]), sign=True))
    outcomes: dict[str, Any] = {str(o.file_id): o for o in await load(raw, ctx)}
    assert outcomes[unsigned["file_id"]].error_code == "F15"
    assert "not signed" in outcomes[unsigned["file_id"]].error_message
    assert outcomes[signed["file_id"]].status == "loaded"


async def test_overlong_lines_are_cut_and_rejected_not_held(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    keys: Keys,
    connection: AsyncConnection,
    raw: asyncpg.Connection,
    ctx: LoadContext,
) -> None:
    await add_esiids(connection, [esiid(1), esiid(2)])
    first = _good(1).decode().replace("00000003,", "00000003," + "X" * 300_000, 1)
    sent = await send(
        client, auth, seal(keys, (first + _good(2).decode()[len(_good(1)) :]).encode())
    )
    [outcome] = await load(raw, ctx)
    assert outcome.status == "partially loaded"
    lines = await report(client, auth, sent["file_id"])
    assert [line["code"] for line in lines] == ["02", "00"]
