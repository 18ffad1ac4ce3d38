"""Fuzzing: whatever is done to a valid file, the parser answers with records, rejections or an
LseFileError, never another exception; and its fast path agrees with its row-by-row path."""

from __future__ import annotations

import io
import random
from collections.abc import Iterable
from dataclasses import replace
from datetime import date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meterhub_common.domain import CENTRAL, validate_esiid
from meterhub_ingest.lse import (
    LseFileError,
    ParsedRecord,
    RejectedRecord,
    normalise_decimal,
    parse_lse,
    render_lse,
    synthetic_record,
)
from meterhub_ingest.lse import parser as lse_parser

TODAY = date(2026, 11, 23)
SENDER = "666666666"


def _record(day: date, esiid: str, channel: int = 4, seed: int = 0) -> ParsedRecord:
    return synthetic_record(
        esiid,
        channel,
        day,
        created_at=datetime.combine(day + timedelta(days=1), datetime.min.time(), CENTRAL),
        rng=random.Random(seed),
        estimated_share=0.2,
        sender=SENDER,
        rep="111111111",
    )


def _base_files() -> list[str]:
    spring = _record(date(2026, 3, 8), "10443720000000001", seed=1)
    fall = _record(date(2026, 11, 1), "10443720000000002", seed=2)
    solar = _record(date(2026, 6, 1), "10443720000000003", channel=1, seed=3)
    plain = _record(date(2026, 6, 1), "10443720000000004", seed=4)
    gaps = replace(
        plain,
        esiid="10443720000000005",
        values=(None,) * 8 + plain.values[8:],
        statuses="-" * 8 + plain.statuses[8:],
        attributes=(),
    )
    text = "\n".join(render_lse([spring, fall, solar, plain, gaps])) + "\n"
    # Numbers spelt the long way round (trailing and leading zeros), and CR LF line ends.
    padded = text.replace(",A,,", "0,A,,").replace(",0.", ",00.")
    return [text, padded, text.replace("\n", "\r\n"), text[: len(text) // 2]]


BASE_FILES = _base_files()
CHARACTERS = [*",\n\r0123456789.-+AEYNX \t=\x00é١\ufeff", "", ",,", "\r\n", "00000001,"]


def _mutate(text: str, operations: list[tuple[object, ...]]) -> str:
    for operation in operations:
        kind = operation[0]
        lines = text.split("\n")
        if kind == "flip" and text:
            at = int(operation[1]) % len(text)  # type: ignore[call-overload]
            text = text[:at] + str(operation[2]) + text[at + 1 :]
        elif kind == "insert":
            at = int(operation[1]) % (len(text) + 1)  # type: ignore[call-overload]
            text = text[:at] + str(operation[2]) + text[at:]
        elif kind == "truncate":
            text = text[: int(operation[1]) % (len(text) + 1)]  # type: ignore[call-overload]
        elif kind == "delete_line":
            del lines[int(operation[1]) % len(lines)]  # type: ignore[call-overload]
            text = "\n".join(lines)
        elif kind == "duplicate_line":
            at = int(operation[1]) % len(lines)  # type: ignore[call-overload]
            lines.insert(at, lines[at])
            text = "\n".join(lines)
        elif kind == "swap_lines":
            a = int(operation[1]) % len(lines)  # type: ignore[call-overload]
            b = int(operation[2]) % len(lines)  # type: ignore[call-overload]
            lines[a], lines[b] = lines[b], lines[a]
            text = "\n".join(lines)
        elif kind == "swap_fields":
            at = int(operation[1]) % len(lines)  # type: ignore[call-overload]
            fields = lines[at].split(",")
            a = int(operation[2]) % len(fields)  # type: ignore[call-overload]
            b = int(operation[3]) % len(fields)  # type: ignore[call-overload]
            fields[a], fields[b] = fields[b], fields[a]
            lines[at] = ",".join(fields)
            text = "\n".join(lines)
        elif kind == "drop_field":
            at = int(operation[1]) % len(lines)  # type: ignore[call-overload]
            fields = lines[at].split(",")
            del fields[int(operation[2]) % len(fields)]  # type: ignore[call-overload]
            lines[at] = ",".join(fields)
            text = "\n".join(lines)
    return text


index = st.integers(min_value=0, max_value=10**6)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("flip"), index, st.sampled_from(CHARACTERS)),
        st.tuples(st.just("insert"), index, st.sampled_from(CHARACTERS) | st.text(max_size=12)),
        st.tuples(st.just("truncate"), index),
        st.tuples(st.just("delete_line"), index),
        st.tuples(st.just("duplicate_line"), index),
        st.tuples(st.just("swap_lines"), index, index),
        st.tuples(st.just("swap_fields"), index, index, index),
        st.tuples(st.just("drop_field"), index, index),
    ),
    min_size=1,
    max_size=6,
)
feeds = st.sampled_from(["bare", "keepends", "stream"])

Outcome = tuple[list[ParsedRecord | RejectedRecord], tuple[str, str, int | None] | None]


def _feed(text: str, feed: str) -> Iterable[str]:
    if feed == "bare":
        return text.split("\n")
    if feed == "keepends":
        return text.splitlines(keepends=True)
    return io.StringIO(text)


def _outcome(text: str, feed: str, max_records: int) -> Outcome:
    results: list[ParsedRecord | RejectedRecord] = []
    try:
        for result in parse_lse(
            _feed(text, feed), sender_duns=SENDER, today=TODAY, max_records=max_records
        ):
            results.append(result)
    except LseFileError as error:
        assert error.code.file_level
        assert error.message
        return results, (error.code.value, error.message, error.line)
    return results, None


def _check(outcome: Outcome) -> None:
    results, _ = outcome
    for result in results:
        if isinstance(result, RejectedRecord):
            assert result.message.startswith("line ")
            assert not result.code.file_level
            assert result.code.is_error
            continue
        assert isinstance(result, ParsedRecord)
        assert validate_esiid(result.esiid) == result.esiid
        assert result.channel in (1, 4)
        assert result.operating_day <= TODAY
        assert result.seconds_per_interval == 900
        assert len(result.values) == len(result.statuses) in (92, 96, 100)
        assert set(result.statuses) <= set("AE-")
        for value, status in zip(result.values, result.statuses, strict=True):
            assert (value is None) == (status == "-")
            assert value is None or normalise_decimal(value) == value
    lines = [result.line for result in results]
    assert lines == sorted(set(lines))


def _row_by_row(text: str, feed: str, max_records: int) -> Outcome:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(lse_parser._Parser, "_details_fast", lambda self, *args: None)
        return _outcome(text, feed, max_records)


@given(st.sampled_from(BASE_FILES), operations, feeds, st.sampled_from([50_000, 3]))
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_mutated_files_never_raise_anything_else(
    base: str, changes: list[tuple[object, ...]], feed: str, max_records: int
) -> None:
    text = _mutate(base, changes)
    outcome = _outcome(text, feed, max_records)
    _check(outcome)
    slow = _row_by_row(text, feed, max_records)
    assert outcome == slow
    assert [r.line for r in outcome[0]] == [r.line for r in slow[0]]


@given(st.text(max_size=300), feeds)
@settings(max_examples=200, deadline=None)
def test_arbitrary_text_never_raises_anything_else(text: str, feed: str) -> None:
    _check(_outcome(text, feed, 50_000))
    _check(_outcome("00000001," + text, feed, 50_000))


@given(st.lists(st.sampled_from(BASE_FILES[0].split("\n")), max_size=80), feeds)
@settings(max_examples=200, deadline=None)
def test_shuffled_rows_never_raise_anything_else(lines: list[str], feed: str) -> None:
    text = "\n".join(lines)
    outcome = _outcome(text, feed, 50_000)
    _check(outcome)
    assert outcome == _row_by_row(text, feed, 50_000)


def test_the_base_files_parse() -> None:
    for base in BASE_FILES[:3]:
        results, error = _outcome(base, "keepends", 50_000)
        assert error is None
        assert [type(r) for r in results] == [ParsedRecord] * 5
