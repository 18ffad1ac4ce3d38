"""Pick the response format from the Accept header (RFC 9110 section 12.5.1)."""

from __future__ import annotations

from enum import StrEnum

from meterhub_usage_api.errors import NotAcceptable


class Format(StrEnum):
    JSON = "application/json"
    CSV = "text/csv"
    ATOM = "application/atom+xml"


def _ranges(accept: str) -> list[tuple[str, float, int]]:
    ranges = []
    for order, part in enumerate(accept.split(",")):
        media, *params = (p.strip() for p in part.split(";"))
        if not media:
            continue
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        ranges.append((media.lower(), quality, order))
    return ranges


def _matches(media_range: str, offered: Format) -> int:
    """How specifically the range matches: 3 exact, 2 type/*, 1 */*, 0 not at all."""
    if media_range == offered.value:
        return 3
    kind = offered.value.split("/")[0]
    if media_range == f"{kind}/*":
        return 2
    if media_range == "*/*":
        return 1
    return 0


def negotiate(accept: str | None, offered: tuple[Format, ...]) -> Format:
    """The offered format the client prefers; the first offered when it states no preference."""
    if not accept or not accept.strip():
        return offered[0]
    ranges = _ranges(accept)
    best: tuple[float, int, int] | None = None
    chosen: Format | None = None
    for index, fmt in enumerate(offered):
        # The most specific range matching a format decides its quality.
        matching = [(s, q) for media, q, _ in ranges if (s := _matches(media, fmt))]
        if not matching:
            continue
        specificity, quality = max(matching)
        if quality <= 0:
            continue
        rank = (quality, specificity, -index)
        if best is None or rank > best:
            best, chosen = rank, fmt
    if chosen is None:
        kinds = ", ".join(f.value for f in offered)
        raise NotAcceptable(f"this resource is offered as {kinds}; the Accept header allows none")
    return chosen
