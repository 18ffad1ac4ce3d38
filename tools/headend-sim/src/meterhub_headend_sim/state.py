"""What the simulated head-end knows and does: requests received, progress it reports.

Each request id is acted on once: a repeat gets the first answer again, marked Duplicate,
and nothing else happens (the idempotency a real head-end must offer a retrying sender).
The mode in force when a request arrives decides its path; while the simulator is silent,
reports wait and go out once it speaks again.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from meterhub_headend_sim.callbacks import CallbackClient
from meterhub_headend_sim.config import Mode, SimConfig
from meterhub_headend_sim.soap import Request

log = logging.getLogger(__name__)

DEVICE_PATHS: dict[tuple[str, Mode], list[str]] = {
    ("AddDevice", Mode.ACK): ["Add Pending", "Meter Ready", "Device Added"],
    ("AddDevice", Mode.FAIL): ["Add Pending", "Add Failed"],
    ("RemoveDevice", Mode.ACK): ["Remove Pending", "Device Removed"],
    ("RemoveDevice", Mode.FAIL): ["Remove Pending", "Remove Failed"],
}


@dataclass
class Received:
    request_id: str
    operation: str
    esiid: str
    meter_number: str
    command: str | None
    fields: dict[str, str]
    accepted: bool
    reason: str | None
    mode: Mode
    receipts: int = 1
    reported: list[str] = field(default_factory=list)
    received_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    def public(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "operation": self.operation,
            "esiid": self.esiid,
            "meter_number": self.meter_number,
            "command": self.command,
            "accepted": self.accepted,
            "reason": self.reason,
            "mode": self.mode.value,
            "receipts": self.receipts,
            "reported": list(self.reported),
            "received_at": self.received_at,
        }


class Simulator:
    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.mode = config.mode
        self.delay_seconds = config.delay_seconds
        self.odr_delay_seconds = config.odr_delay_seconds
        self.device_level_reports = config.device_level_reports
        self.requests: dict[str, Received] = {}
        self.meter_devices: dict[str, set[str]] = {}  # "esiid/meter" -> MACs added
        self.callbacks = CallbackClient(config)
        self._tasks: set[asyncio.Task[None]] = set()
        self._spoken = asyncio.Event()
        self._spoken.set()

    # ---- control -------------------------------------------------------------------------

    def set_mode(self, mode: Mode) -> None:
        self.mode = mode
        if mode is Mode.SILENT:
            self._spoken.clear()
        else:
            self._spoken.set()

    def reset(self) -> None:
        self.requests.clear()
        self.meter_devices.clear()
        self.callbacks.sent.clear()

    def status(self) -> dict[str, Any]:
        sent = list(self.callbacks.sent)
        return {
            "mode": self.mode.value,
            "delay_seconds": self.delay_seconds,
            "odr_delay_seconds": self.odr_delay_seconds,
            "device_level_reports": self.device_level_reports,
            "requests": len(self.requests),
            "receipts": sum(r.receipts for r in self.requests.values()),
            "reports_in_flight": len(self._tasks),
            "reports_sent": len(sent),
            "reports_refused": sum(1 for s in sent if s.status_code and s.status_code >= 400),
        }

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.callbacks.aclose()

    # ---- SOAP requests -------------------------------------------------------------------

    def receive(self, request: Request) -> Received:
        request_id = request.fields["RequestId"]
        known = self.requests.get(request_id)
        if known is not None:
            known.receipts += 1
            return known
        mode = self.mode
        accepted = mode is not Mode.REJECT
        reason = None if accepted else "rejected by the head-end simulator (mode reject)"
        received = Received(
            request_id=request_id,
            operation=request.operation,
            esiid=request.fields["EsiId"],
            meter_number=request.fields["MeterNumber"],
            command=request.command,
            fields={**request.fields, **request.command_fields},
            accepted=accepted,
            reason=reason,
            mode=mode,
        )
        self.requests[request_id] = received
        if accepted:
            task = asyncio.create_task(self._progress(received))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return received

    async def _pause(self, seconds: float) -> None:
        if seconds > 0:
            await asyncio.sleep(seconds)
        await self._spoken.wait()

    async def _progress(self, received: Received) -> None:
        try:
            if received.operation == "RequestOnDemandRead":
                await self._on_demand_read(received)
                return
            for status, mac in self._path(received):
                await self._pause(self.delay_seconds)
                await self._report(received, status, mac)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("progress of %s stopped", received.request_id)

    def _path(self, received: Received) -> list[tuple[str, str | None]]:
        key = (received.operation, received.mode)
        if key in DEVICE_PATHS:
            return [(status, None) for status in DEVICE_PATHS[key]]
        if received.mode is Mode.FAIL:
            return [("PEN", None), ("FLR", None)]
        steps: list[tuple[str, str | None]] = [("PEN", None)]
        if received.command == "LoadControlEvent":
            steps.append(("STR", None))
        steps.append(("CON", None))
        if self.device_level_reports and received.operation == "SendMessage":
            meter = f"{received.esiid}/{received.meter_number}"
            steps.extend(("CON", mac) for mac in sorted(self.meter_devices.get(meter, ())))
        return steps

    async def _report(self, received: Received, status: str, mac: str | None) -> None:
        meter = f"{received.esiid}/{received.meter_number}"
        if status == "Device Added":
            self.meter_devices.setdefault(meter, set()).add(received.fields["MacAddress"])
        elif status == "Device Removed":
            self.meter_devices.get(meter, set()).discard(received.fields["MacAddress"])
        received.reported.append(status if mac is None else f"{status}@{mac}")
        if not self.config.callback_url:
            return
        body: dict[str, Any] = {
            "request_id": received.request_id,
            "status": status,
            "timestamp": datetime.now(UTC).isoformat(),
            "description": f"head-end simulator: {status}",
        }
        if mac is not None:
            body["device_mac"] = mac
        await self.callbacks.post(self.config.callback_url, body)

    async def _on_demand_read(self, received: Received) -> None:
        await self._pause(self.odr_delay_seconds)
        now = datetime.now(UTC)
        body: dict[str, Any] = {
            "request_id": received.request_id,
            "esiid": received.esiid,
            "meter_number": received.meter_number,
        }
        if received.mode is Mode.FAIL:
            body |= {
                "status": "failed",
                "read_at": None,
                "register_kwh": None,
                "failure_reason": "the meter did not answer the on-demand read",
            }
        else:
            body |= {
                "status": "completed",
                "read_at": now.isoformat(),
                "register_kwh": str(register_reading(received.esiid, now)),
                "failure_reason": None,
            }
        received.reported.append(body["status"])
        if self.config.odr_callback_url:
            await self.callbacks.post(self.config.odr_callback_url, body)


def register_reading(esiid: str, now: datetime) -> Decimal:
    """A plausible, ever-increasing register: a per-meter base plus ~1.2 kWh an hour."""
    seed = int.from_bytes(hashlib.sha256(esiid.encode()).digest()[:4], "big")
    base = Decimal(seed % 50_000)
    hours = Decimal(int(now.timestamp())) / Decimal(3600)
    return (base + hours * Decimal("1.2")).quantize(Decimal("0.001"))
