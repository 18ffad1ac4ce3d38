"""HAN device identity: the EUI-64 MAC address and the Smart Energy install code.

An install code is 6, 8, 12 or 16 bytes followed by its CRC-16/X-25 (poly 0x1021 reflected,
init 0xFFFF, final XOR 0xFFFF), least significant byte first. The code is what the device's
link key is derived from, so a mistyped code must be refused here rather than fail silently
at the meter days later.
"""

from __future__ import annotations

import re
from typing import Final

from meterhub_common.errors import Unprocessable

INSTALL_CODE_LENGTHS: Final = (6, 8, 12, 16)
"""Bytes of install code before the two CRC bytes."""

_MAC_SEPARATORS = re.compile(r"[:\-]")
_HEX16 = re.compile(r"[0-9A-F]{16}")


def _crc16_x25_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_TABLE: Final = _crc16_x25_table()


def crc16_x25(data: bytes) -> int:
    """CRC-16/X-25 (also called CRC-16/IBM-SDLC); ``crc16_x25(b"123456789") == 0x906E``."""
    crc = 0xFFFF
    for byte in data:
        crc = (crc >> 8) ^ _TABLE[(crc ^ byte) & 0xFF]
    return crc ^ 0xFFFF


def with_crc(code: bytes) -> bytes:
    """The install code followed by its CRC, little-endian: what a device label shows."""
    return code + crc16_x25(code).to_bytes(2, "little")


def normalize_mac(value: str) -> str:
    """Return the EUI-64 as 16 upper-case hex digits, or raise Unprocessable."""
    text = _MAC_SEPARATORS.sub("", value.strip()).upper()
    if not _HEX16.fullmatch(text):
        raise Unprocessable(f"MAC address {value!r} is not an EUI-64 (16 hexadecimal digits)")
    if text in ("0000000000000000", "FFFFFFFFFFFFFFFF"):
        raise Unprocessable(f"MAC address {value!r} is reserved and cannot identify a device")
    return text


def normalize_install_code(value: str) -> str:
    """Return the install code (with CRC) as upper-case hex if its CRC checks, else raise."""
    text = value.strip().upper()
    try:
        raw = bytes.fromhex(text)
    except ValueError as exc:
        raise Unprocessable(f"install code {value!r} is not hexadecimal") from exc
    if len(raw) - 2 not in INSTALL_CODE_LENGTHS:
        raise Unprocessable(
            f"install code has {len(raw)} bytes; it must be 6, 8, 12 or 16 bytes followed by "
            "a 2-byte CRC (16, 20, 28 or 36 hexadecimal digits)"
        )
    code, given = raw[:-2], int.from_bytes(raw[-2:], "little")
    expected = crc16_x25(code)
    if given != expected:
        raise Unprocessable(
            f"install code CRC does not check: its last two bytes read {raw[-2:].hex().upper()}"
            f" but the CRC-16/X-25 of the code is {expected.to_bytes(2, 'little').hex().upper()}"
            " (least significant byte first); check the code on the device label"
        )
    return raw.hex().upper()
