"""A recording stand-in for the FTPS publisher, for tests of the report worker's steps.

The end-to-end test (test_report_e2e.py) talks to the real ftps-publisher instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from meterhub_usage_api.reports.delivery import DeliveryError, Placed


@dataclass
class RecordingPublisher:
    delivered: list[tuple[str, str, bytes]] = field(default_factory=list)
    refuse: DeliveryError | None = None

    async def deliver(self, duns: str, file_name: str, body: AsyncIterator[bytes]) -> Placed:
        data = b"".join([block async for block in body])
        if self.refuse is not None:
            raise self.refuse
        self.delivered.append((duns, file_name, data))
        return Placed(f"{file_name}.zip.asc", len(data), "F" * 40)

    async def aclose(self) -> None:
        return None

    def lines(self, index: int = -1) -> list[str]:
        return self.delivered[index][2].decode().split("\r\n")[:-1]
