"""Property: parse_lse(render_lse(records)) == records for any valid records."""

from __future__ import annotations

import random
import string
from collections.abc import Callable, Iterator
from datetime import date, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meterhub_common.domain import CENTRAL, intervals_in_day
from meterhub_ingest.lse import ParsedRecord, normalise_decimal, parse_lse, render_lse
from meterhub_ingest.lse import parser as lse_parser

TODAY = date(2026, 11, 23)
SENDER = "666666666"
DST_DAYS = [date(2026, 3, 8), date(2026, 11, 1), date(2025, 3, 9), date(2025, 11, 2)]
# Printable ASCII except the comma (the field separator) and "=" (splits attributes).
FREE_TEXT = "".join(c for c in string.printable[:94] if c not in ",=") + " "


def _kwh(thousandths: int) -> str:
    sign = "-" if thousandths < 0 else ""
    whole, part = divmod(abs(thousandths), 1000)
    canonical = normalise_decimal(f"{sign}{whole}.{part:03d}")
    assert canonical is not None
    return canonical


def _value(rng: random.Random, style: str) -> str:
    if style == "meter":
        return _kwh(rng.randint(0, 5_000))
    if style == "wide":
        return _kwh(rng.randint(-(10**6), 10**9))
    return rng.choice(["0", "68.29", "7.82", "0.001", "1", "-1", "100"])


@st.composite
def attribute_lists(draw: st.DrawFn) -> tuple[tuple[str, str], ...]:
    names = draw(
        st.lists(
            st.text(string.ascii_letters + "_", min_size=1, max_size=10).filter(
                lambda name: name.casefold() != "sender"
            ),
            max_size=4,
            unique_by=str.casefold,
        )
    )
    pairs = [(name, draw(st.text(FREE_TEXT + "=", max_size=12))) for name in names]
    if draw(st.booleans()):
        pairs.insert(draw(st.integers(0, len(pairs))), ("Sender", SENDER))
    return tuple(pairs)


@st.composite
def records(draw: st.DrawFn) -> ParsedRecord:
    day = draw(
        st.one_of(
            st.sampled_from(DST_DAYS),
            st.dates(min_value=date(2000, 1, 1), max_value=TODAY),
        )
    )
    dst = draw(st.booleans().map(lambda flag: flag or day in DST_DAYS))
    count = intervals_in_day(day) if dst else 96
    # Drawing 100 cells one by one is slow; a seeded generator with drawn shares is not, and
    # still covers blanks, estimates and every kind of number.
    rng = random.Random(draw(st.integers(min_value=0, max_value=2**32)))
    blank_share = draw(st.sampled_from([0.0, 0.0, 0.05, 1.0]))
    estimated_share = draw(st.sampled_from([0.0, 0.1, 1.0]))
    style = draw(st.sampled_from(["meter", "wide", "edge"]))
    drawn = [
        (None, "-")
        if rng.random() < blank_share
        else (_value(rng, style), "E" if rng.random() < estimated_share else "A")
        for _ in range(count)
    ]
    created = draw(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2030, 1, 1)))
    return ParsedRecord(
        line=0,
        esiid=draw(st.text(string.ascii_letters + string.digits, min_size=1, max_size=64)),
        channel=draw(st.sampled_from([1, 4])),
        operating_day=day,
        dst_participant=dst,
        seconds_per_interval=900,
        unit_code="01",
        time_zone=draw(st.sampled_from(["CST", "CPT", "", "US/Central"])),
        transaction_id=draw(st.text(FREE_TEXT, min_size=1, max_size=30).filter(str.strip)),
        created_at=created.replace(microsecond=0, tzinfo=CENTRAL),
        origin=draw(st.text(string.ascii_uppercase, max_size=3)),
        attributes=draw(attribute_lists()),
        values=tuple(value for value, _ in drawn),
        statuses="".join(status for _, status in drawn),
    )


files = st.lists(
    records(),
    min_size=1,
    max_size=4,
    unique_by=lambda record: (record.esiid, record.channel, record.operating_day),
)

LAYOUTS: dict[str, Callable[[list[str]], Iterator[str] | list[str]]] = {
    "bare": lambda lines: iter(lines),
    "lf": lambda lines: [line + "\n" for line in lines],
    "crlf": lambda lines: [line + "\r\n" for line in lines],
}


def _parse(lines: Iterator[str] | list[str]) -> list[object]:
    return list(parse_lse(lines, sender_duns=SENDER, today=TODAY))


@given(files)
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_parse_of_render_is_identity(originals: list[ParsedRecord]) -> None:
    lines = list(render_lse(originals))
    for layout in LAYOUTS.values():
        assert _parse(layout(lines)) == originals
    for result in _parse(lines):
        assert isinstance(result, ParsedRecord)
        assert len(result.values) == len(result.statuses)
        for value, status in zip(result.values, result.statuses, strict=True):
            assert (value is None) == (status == "-")
            assert value is None or normalise_decimal(value) == value


@given(files)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_the_row_by_row_path_agrees(originals: list[ParsedRecord]) -> None:
    lines = list(render_lse(originals))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(lse_parser._Parser, "_details_fast", lambda self, *args: None)
        assert _parse(lines) == originals


@given(files)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_line_numbers_follow_the_rendered_rows(originals: list[ParsedRecord]) -> None:
    lines = list(render_lse(originals))
    starts = [number for number, line in enumerate(lines, 1) if line.startswith("00000001")]
    assert [result.line for result in _parse(lines)] == starts  # type: ignore[attr-defined]
