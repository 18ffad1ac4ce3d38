"""ESI ID and DUNS validation, and the TDSP prefix lookup."""

from __future__ import annotations

import pytest

from meterhub_common.domain import (
    TDSP_ESIID_PREFIXES,
    InvalidIdentifier,
    tdsp_for_esiid,
    validate_duns,
    validate_esiid,
)


@pytest.mark.parametrize(
    "value",
    [
        "1000000000000000",  # the 16-digit id of ERCOT's LSE sample
        "10443720001234567",  # 17 digits, Oncor
        "1008901000123456789012",  # 22 digits, CenterPoint
        "A",
        "abcXYZ0123",
        "9" * 64,
    ],
)
def test_valid_esiids_are_returned_unchanged(value: str) -> None:
    assert validate_esiid(value) == value


def test_esiid_surrounding_whitespace_is_stripped_but_nothing_else() -> None:
    assert validate_esiid("  0010443720001234567\t\n") == "0010443720001234567"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "is empty"),
        ("   ", "is empty"),
        ("9" * 65, "has 65 characters, at most 64 allowed"),
        ("1044-3720", "only ASCII letters and digits"),
        ("1044 3720", "only ASCII letters and digits"),
        ("10443720é", "only ASCII letters and digits"),
        ("١٢٣", "only ASCII letters and digits"),  # Arabic-Indic digits are not ASCII
    ],
)
def test_malformed_esiids_are_rejected_with_a_reason(value: str, reason: str) -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        validate_esiid(value)
    assert reason in str(caught.value)
    assert caught.value.kind == "ESI ID"
    assert caught.value.value == value
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize("value", [10443720001234567, 1.5, None, b"1044"])
def test_esiid_must_be_a_string(value: object) -> None:
    with pytest.raises(InvalidIdentifier, match="must be a string"):
        validate_esiid(value)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["007924772", "183529049", "1835290491234", " 666666666 "])
def test_valid_duns(value: str) -> None:
    assert validate_duns(value) == value.strip()


@pytest.mark.parametrize(
    "value",
    [
        "",
        "12345678",
        "1234567890",
        "123456789012",
        "12345678901234",
        "12345678a",
        "183529049-1234",
        "١٢٣٤٥٦٧٨٩",
    ],
)
def test_malformed_duns_are_rejected(value: str) -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        validate_duns(value)
    assert caught.value.kind == "DUNS"
    assert repr(value) in str(caught.value)


def test_duns_as_a_number_is_rejected_because_leading_zeros_would_be_lost() -> None:
    with pytest.raises(InvalidIdentifier, match="must be a string"):
        validate_duns(7924772)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("esiid", "tdsp"),
    [
        ("10443720001234567", "Oncor"),
        ("1008901000123456789012", "CenterPoint"),
        ("10032789001234567", "AEP Central"),
        ("10204049001234567", "AEP North"),
        ("10400511001234567", "TNMP"),
        ("1000000000000000", None),
        ("1044372", None),  # a prefix of a prefix is not enough
    ],
)
def test_tdsp_for_esiid(esiid: str, tdsp: str | None) -> None:
    assert tdsp_for_esiid(esiid) == tdsp


def test_tdsp_prefixes_are_the_five_known_ones_and_do_not_overlap() -> None:
    assert TDSP_ESIID_PREFIXES == {
        "Oncor": "10443720",
        "CenterPoint": "1008901",
        "AEP Central": "10032789",
        "AEP North": "10204049",
        "TNMP": "10400511",
    }
    prefixes = list(TDSP_ESIID_PREFIXES.values())
    for a in prefixes:
        for b in prefixes:
            assert a == b or not b.startswith(a)


def test_tdsp_for_a_malformed_esiid_raises() -> None:
    with pytest.raises(InvalidIdentifier):
        tdsp_for_esiid("1044-3720")
