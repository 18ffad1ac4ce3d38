"""The interval renderers: records with every interval present take the cached per-day
segments, the others the per-interval path; both must print exactly the documented layout."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import orjson
import pytest

from meterhub_common.domain.operating_day import intervals
from meterhub_usage_api.usage import render
from meterhub_usage_api.usage.repository import numeric_array_items

ESIID = "10443720000000001"
REVISION = datetime(2026, 11, 2, 11, 12, 9, tzinfo=UTC)  # 05:12:09 Central (CST)


def record(day: date, kwh: list[str | None], statuses: str) -> dict[str, Any]:
    return {
        "operating_day": day,
        "version": 1,
        "is_current": True,
        "interval_count": len(kwh),
        "kwh": kwh,
        "statuses": statuses,
        "revision_at": REVISION,
        "superseded_at": None,
    }


def expected_items(day: date, kwh: list[str | None], statuses: str) -> list[dict[str, Any]]:
    items = []
    for position, span in enumerate(intervals(day)):
        value = kwh[position] if position < len(kwh) else None
        flag = statuses[position] if position < len(statuses) else "-"
        items.append(
            {
                "start": span.start.isoformat(),
                "end": span.end.isoformat(),
                "kwh": value,
                "status": flag if value is not None and flag in ("A", "E") else None,
            }
        )
    return items


def expected_lines(day: date, kwh: list[str | None], statuses: str, label: str) -> list[str]:
    lines = []
    for item, span in zip(expected_items(day, kwh, statuses), intervals(day), strict=True):
        lines.append(
            f"{ESIID},{day:%m/%d/%Y},11/02/2026 05:12:09,{span.start:%H:%M},{span.end:%H:%M},"
            f"{item['kwh'] or ''},{item['status'] or ''},{label}"
        )
    return lines


DAYS = [date(2026, 3, 8), date(2026, 11, 1), date(2026, 11, 20)]  # 92, 100 and 96 intervals


def full(day: date) -> list[str | None]:
    return [f"0.{position:03d}" for position in range(len(intervals(day)))]


def cases() -> list[tuple[date, list[str | None], str]]:
    out: list[tuple[date, list[str | None], str]] = []
    for day in DAYS:
        count = len(intervals(day))
        out.append((day, full(day), "A" * count))
        out.append((day, full(day), ("AE-X" * count)[:count]))  # odd flags print no status
        out.append((day, full(day), "E" * (count - 5)))  # statuses shorter than the day
        holes = full(day)
        holes[3] = None
        out.append((day, holes, "A" * count))
        out.append((day, full(day)[:-2], "A" * count))  # fewer values than intervals
    return out


@pytest.mark.parametrize(("day", "kwh", "statuses"), cases())
def test_intervals_json_and_csv_print_every_interval(
    day: date, kwh: list[str | None], statuses: str
) -> None:
    rows = [record(day, kwh, statuses)]
    # Twice: the second call is served from the cached segments.
    for _ in range(2):
        body = orjson.loads(render.intervals_json({"esiid": ESIID}, rows))
        assert body["days"][0]["intervals"] == expected_items(day, kwh, statuses)
        assert body["days"][0]["revision_at"] == "2026-11-02T05:12:09-06:00"
        for channel, label in render.CHANNEL_LABELS.items():
            text = render.intervals_csv(ESIID, channel, rows).decode()
            assert text.endswith("\r\n")
            lines = text.split("\r\n")[:-1]
            assert lines[0] == render.INTERVAL_CSV_HEADER
            assert lines[1:] == expected_lines(day, kwh, statuses, label)


def test_several_days_follow_each_other_in_csv() -> None:
    rows = [record(day, full(day), "A" * len(intervals(day))) for day in DAYS]
    lines = render.intervals_csv(ESIID, 4, rows).decode().split("\r\n")[:-1]
    assert len(lines) == 1 + 92 + 100 + 96
    assert lines[1].startswith(f"{ESIID},03/08/2026,")
    assert lines[93].startswith(f"{ESIID},11/01/2026,")
    assert lines[-1].endswith(",23:45,00:00,0.095,A,Consumption")


@pytest.mark.parametrize(
    ("text", "items"),
    [
        (None, None),
        ("{}", []),
        ("{0.251}", ["0.251"]),
        ("{0.251,NULL,12.0000,-0.5}", ["0.251", None, "12.0000", "-0.5"]),
        ("{NULL,NULL}", [None, None]),
        ("{NaN,Infinity}", ["NaN", "Infinity"]),
        ("[0:2]={1,NULL,3}", ["1", None, "3"]),
    ],
)
def test_numeric_array_items(text: str | None, items: list[str | None] | None) -> None:
    assert numeric_array_items(text) == items
