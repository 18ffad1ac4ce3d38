"""The HAN service's device report, over HTTP with a service-role token.

``GET /v1/reports/devices?as_of=`` on the HAN service (URL configurable) answers
``{"as_of", "total_devices", "by_status": [{"status", "count", ...}],
"by_tdsp": [{"tdsp_duns", "tdsp_name", "total", "by_status": {status: count}}]}``. Plain
``{key: count}`` objects are accepted too. Anything else is reported as unavailable, with the
reason, and the rest of the monthly report is still produced.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import httpx

from meterhub_notifier.probes.base import ProbeFailure
from meterhub_notifier.probes.tokens import TokenSource

log = logging.getLogger(__name__)


def _count(item: dict[str, Any]) -> int:
    for name in ("count", "total"):
        if name in item:
            return int(item[name])
    raise ValueError("a row has neither count nor total")


def _rows(value: Any, key_names: tuple[str, ...]) -> list[dict[str, Any]]:
    if isinstance(value, dict):
        return [{"key": str(k), "count": int(v)} for k, v in sorted(value.items())]
    if not isinstance(value, list):
        raise ValueError("expected a list or an object")
    rows = []
    for item in value:
        key = next((item[name] for name in key_names if name in item), None)
        if key is None:
            raise ValueError(f"a row lacks {' or '.join(key_names)}")
        row: dict[str, Any] = {"key": str(key), "count": _count(item)}
        if item.get("tdsp_name"):
            row["name"] = str(item["tdsp_name"])
        if isinstance(item.get("by_status"), dict):
            row["by_status"] = {str(k): int(v) for k, v in item["by_status"].items()}
        rows.append(row)
    return rows


def normalize_han_report(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ValueError("the HAN device report is not a JSON object")
    return {
        "by_status": _rows(body.get("by_status", []), ("status",)),
        "by_territory": _rows(
            body.get("by_tdsp", body.get("by_territory", [])), ("tdsp_duns", "territory")
        ),
        "total_devices": body.get("total_devices"),
        "as_of": body.get("as_of"),
    }


class HanDevicesClient:
    def __init__(
        self, client: httpx.AsyncClient, url: str | None, tokens: TokenSource | None
    ) -> None:
        self.client = client
        self.url = url
        self.tokens = tokens

    async def devices(self, as_of: datetime | None = None) -> dict[str, Any]:
        """Device counts as they stood at ``as_of`` (the end of a past month), else now."""
        if not self.url or self.tokens is None:
            return {
                "available": False,
                "reason": "the HAN report URL or the service client is not configured",
                "by_status": [],
                "by_territory": [],
            }
        try:
            token = await self.tokens.token()
            response = await self.client.get(
                self.url,
                params={"as_of": as_of.isoformat()} if as_of else None,
                headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            )
            if response.status_code != 200:
                raise ValueError(f"answered {response.status_code}: {response.text[:200]}")
            report = normalize_han_report(response.json())
        except (httpx.HTTPError, ProbeFailure, ValueError, TypeError) as exc:
            log.warning("HAN device report unavailable", extra={"url": self.url, "error": str(exc)})
            return {
                "available": False,
                "reason": f"{self.url}: {exc}",
                "by_status": [],
                "by_territory": [],
            }
        return {"available": True, "source": self.url, **report}
