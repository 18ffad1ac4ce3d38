"""Green Button (NAESB REQ.21 ESPI) Atom feeds of interval usage.

One feed holds the UsagePoint (electricity), its LocalTimeParameters (US Central with the
post-2007 DST rules), one MeterReading with its ReadingType, and one IntervalBlock per
operating day (or one for all aggregates). ESPI values are integers: the ReadingType says Wh
(uom 72) and picks the power-of-ten multiplier that keeps every value exact (kWh with up to
three decimals is whole Wh, multiplier 0). Readings start at UTC epoch seconds, so the
fall-back day's 100 intervals and the spring-forward day's 92 need no special casing.

Quality: an estimated interval carries ReadingQuality 8 ("estimated using reference day", the
VEE like-day estimate TDSPs perform); actual readings carry 0 (valid). A missing interval has
no IntervalReading.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from lxml import etree

from meterhub_common.domain.operating_day import day_bounds
from meterhub_usage_api.usage.render import spans

ATOM_MEDIA_TYPE = "application/atom+xml"
ATOM = "http://www.w3.org/2005/Atom"
ESPI = "http://naesb.org/espi"
_NSMAP = {None: ATOM, "espi": ESPI}
_NAMESPACE = uuid.UUID("6f1d2a0e-43a5-4d0c-9a57-2f8e1c1f6a10")

# ESPI enumerations (REQ.21): kind 0 electricity; accumulation 4 deltaData; commodity 1
# electricity secondary metered; dataQualifier 12 normal; flowDirection 1 forward
# (delivered), 19 reverse (surplus generation); kind 12 energy; phase 769 (S1N); uom 72 Wh.
_FLOW_DIRECTION = {4: 1, 1: 19}
_QUALITY_VALID = 0
_QUALITY_ESTIMATED = 8

# US Central: UTC-6, +1 h from the second Sunday of March to the first Sunday of November,
# both at 02:00, encoded as ESPI's DST rule words.
CENTRAL_TIME_PARAMETERS = {
    "dstEndRule": "B40E2000",
    "dstOffset": "3600",
    "dstStartRule": "360E2000",
    "tzOffset": "-21600",
}


@dataclass(frozen=True, slots=True)
class Reading:
    start: int  # epoch seconds, UTC
    duration: int
    wh: Decimal
    estimated: bool


@dataclass(frozen=True, slots=True)
class Block:
    start: int
    duration: int
    readings: list[Reading]


def _epoch(value: datetime) -> int:
    return int(value.timestamp())


def interval_blocks(rows: Sequence[Mapping[str, Any]]) -> list[Block]:
    """One block per operating day (current versions), one reading per present interval."""
    blocks = []
    for row in rows:
        day = row["operating_day"]
        start, end = day_bounds(day)
        kwh, statuses = row["kwh"], row["statuses"]
        readings = [
            Reading(
                _epoch(span.start_utc),
                900,
                Decimal(value) * 1000,
                statuses[position] == "E" if position < len(statuses) else False,
            )
            for position, (span, value) in enumerate(zip(spans(day), kwh, strict=False))
            if value is not None
        ]
        blocks.append(Block(_epoch(start), _epoch(end) - _epoch(start), readings))
    return blocks


def aggregate_block(totals: Sequence[dict[str, Any]]) -> list[Block]:
    readings = []
    for total in totals:
        if total["kwh"] is None:
            continue
        start = datetime.fromisoformat(total["start"])
        end = datetime.fromisoformat(total["end"])
        readings.append(
            Reading(
                _epoch(start),
                _epoch(end) - _epoch(start),
                Decimal(total["kwh"]) * 1000,
                total["estimated_count"] > 0,
            )
        )
    if not readings:
        return []
    first, last = readings[0], readings[-1]
    return [Block(first.start, last.start + last.duration - first.start, readings)]


def _multiplier(blocks: Sequence[Block]) -> int:
    """The power of ten (<= 0) that makes every Wh value an integer."""
    exponent = 0
    for block in blocks:
        for reading in block.readings:
            value_exponent = reading.wh.normalize().as_tuple().exponent
            if isinstance(value_exponent, int):
                exponent = min(exponent, value_exponent)
    return exponent


def _sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, f"{{{ESPI}}}{tag}")
    if text is not None:
        element.text = text
    return element


def _atom(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, f"{{{ATOM}}}{tag}")
    if text is not None:
        element.text = text
    return element


def _entry(
    feed: etree._Element,
    *,
    key: str,
    title: str,
    self_href: str,
    up_href: str,
    related: Sequence[str],
    updated: str,
) -> etree._Element:
    entry = _atom(feed, "entry")
    _atom(entry, "id", f"urn:uuid:{uuid.uuid5(_NAMESPACE, key)}")
    for rel, href in (("self", self_href), ("up", up_href)):
        link = _atom(entry, "link")
        link.set("rel", rel)
        link.set("href", href)
    for href in related:
        link = _atom(entry, "link")
        link.set("rel", "related")
        link.set("href", href)
    _atom(entry, "title", title)
    content = _atom(entry, "content")
    _atom(entry, "published", updated)
    _atom(entry, "updated", updated)
    return content


def feed(
    *,
    esiid: str,
    channel: int,
    interval_length: int | None,
    blocks: Sequence[Block],
    self_href: str,
    now: datetime | None = None,
) -> bytes:
    """The Atom document; ``interval_length`` is None when aggregates vary in length."""
    updated = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0).isoformat()
    updated = updated.replace("+00:00", "Z")
    base = f"/espi/1_1/resource/RetailCustomer/{esiid}"
    usage_point = f"{base}/UsagePoint/{channel}"
    meter_reading = f"{usage_point}/MeterReading/1"
    reading_type = f"/espi/1_1/resource/ReadingType/{esiid}-{channel}-{interval_length or 0}"
    time_parameters = "/espi/1_1/resource/LocalTimeParameters/1"

    root = etree.Element(f"{{{ATOM}}}feed", nsmap=_NSMAP)
    _atom(root, "id", f"urn:uuid:{uuid.uuid5(_NAMESPACE, self_href)}")
    _atom(root, "title", f"Meterhub usage of ESI ID {esiid}")
    _atom(root, "updated", updated)
    link = _atom(root, "link")
    link.set("rel", "self")
    link.set("href", self_href)

    content = _entry(
        root,
        key=usage_point,
        title=f"ESI ID {esiid}",
        self_href=usage_point,
        up_href=f"{base}/UsagePoint",
        related=(f"{usage_point}/MeterReading", time_parameters),
        updated=updated,
    )
    point = _sub(content, "UsagePoint")
    category = _sub(point, "ServiceCategory")
    _sub(category, "kind", "0")

    content = _entry(
        root,
        key=time_parameters,
        title="US Central prevailing time",
        self_href=time_parameters,
        up_href="/espi/1_1/resource/LocalTimeParameters",
        related=(),
        updated=updated,
    )
    parameters = _sub(content, "LocalTimeParameters")
    for name, value in CENTRAL_TIME_PARAMETERS.items():
        _sub(parameters, name, value)

    content = _entry(
        root,
        key=meter_reading,
        title="Consumption" if channel == 4 else "Surplus generation",
        self_href=meter_reading,
        up_href=f"{usage_point}/MeterReading",
        related=(f"{meter_reading}/IntervalBlock", reading_type),
        updated=updated,
    )
    _sub(content, "MeterReading")

    multiplier = _multiplier(blocks)
    content = _entry(
        root,
        key=reading_type,
        title="Energy, Wh",
        self_href=reading_type,
        up_href="/espi/1_1/resource/ReadingType",
        related=(),
        updated=updated,
    )
    kind = _sub(content, "ReadingType")
    _sub(kind, "accumulationBehaviour", "4")
    _sub(kind, "commodity", "1")
    _sub(kind, "currency", "840")
    _sub(kind, "dataQualifier", "12")
    _sub(kind, "flowDirection", str(_FLOW_DIRECTION[channel]))
    if interval_length is not None:
        _sub(kind, "intervalLength", str(interval_length))
    _sub(kind, "kind", "12")
    _sub(kind, "phase", "769")
    _sub(kind, "powerOfTenMultiplier", str(multiplier))
    _sub(kind, "timeAttribute", "0")
    _sub(kind, "uom", "72")

    scale = Decimal(10) ** -multiplier
    for number, block in enumerate(blocks, start=1):
        href = f"{meter_reading}/IntervalBlock/{block.start}"
        content = _entry(
            root,
            key=f"{href}-{number}",
            title=f"Intervals from {datetime.fromtimestamp(block.start, UTC).isoformat()}",
            self_href=href,
            up_href=f"{meter_reading}/IntervalBlock",
            related=(),
            updated=updated,
        )
        element = _sub(content, "IntervalBlock")
        interval = _sub(element, "interval")
        _sub(interval, "duration", str(block.duration))
        _sub(interval, "start", str(block.start))
        for reading in block.readings:
            item = _sub(element, "IntervalReading")
            quality = _sub(item, "ReadingQuality")
            _sub(
                quality, "quality", str(_QUALITY_ESTIMATED if reading.estimated else _QUALITY_VALID)
            )
            period = _sub(item, "timePeriod")
            _sub(period, "duration", str(reading.duration))
            _sub(period, "start", str(reading.start))
            _sub(item, "value", str(int(reading.wh * scale)))
    document: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return document
