"""CRC-16/X-25 and install code / MAC checks."""

from __future__ import annotations

import pytest

from meterhub_common.errors import Unprocessable
from meterhub_han.devices.install_code import (
    crc16_x25,
    normalize_install_code,
    normalize_mac,
    with_crc,
)


def test_crc16_x25_check_value() -> None:
    # The catalogue check value of CRC-16/X-25 (poly 0x1021 reflected, init and xorout 0xFFFF).
    assert crc16_x25(b"123456789") == 0x906E
    assert crc16_x25(b"") == 0x0000


def test_the_smart_energy_sample_install_code() -> None:
    # The 128-bit sample code of the ZigBee specifications: its label ends in C3B5, which is
    # the CRC 0xB5C3 written least significant byte first.
    code = bytes.fromhex("83FED3407A939723A5C639B26916D505")
    assert crc16_x25(code) == 0xB5C3
    assert with_crc(code).hex().upper() == "83FED3407A939723A5C639B26916D505C3B5"
    assert normalize_install_code(" 83fed3407a939723a5c639b26916d505c3b5 ") == (
        "83FED3407A939723A5C639B26916D505C3B5"
    )


@pytest.mark.parametrize("size", [6, 8, 12, 16])
def test_every_install_code_length_is_accepted_with_its_crc(size: int) -> None:
    code = bytes(range(1, size + 1))
    assert normalize_install_code(with_crc(code).hex()) == with_crc(code).hex().upper()


@pytest.mark.parametrize("size", [4, 5, 7, 10, 14, 18])
def test_other_lengths_are_refused(size: int) -> None:
    with pytest.raises(Unprocessable, match="6, 8, 12 or 16 bytes"):
        normalize_install_code(with_crc(bytes(size)).hex())


def test_a_single_wrong_digit_or_swapped_crc_bytes_fail_the_check() -> None:
    good = with_crc(bytes.fromhex("0123456789ABCDEF")).hex().upper()
    flipped = ("1" if good[0] == "0" else "0") + good[1:]
    swapped = good[:-4] + good[-2:] + good[-4:-2]
    for bad in (flipped, swapped):
        with pytest.raises(Unprocessable, match="CRC does not check"):
            normalize_install_code(bad)
    with pytest.raises(Unprocessable, match="not hexadecimal"):
        normalize_install_code("XYZ")


def test_mac_addresses_are_normalized_and_checked() -> None:
    assert normalize_mac("00:0d:6f:00:0a:bc:de:f0") == "000D6F000ABCDEF0"
    assert normalize_mac("00-0D-6F-00-0A-BC-DE-F0") == "000D6F000ABCDEF0"
    for bad in ("000D6F000ABCDE", "000D6F000ABCDEFG", "0000000000000000", "ffffffffffffffff"):
        with pytest.raises(Unprocessable):
            normalize_mac(bad)
