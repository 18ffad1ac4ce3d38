"""The probe loop: at the start of every minute, every probe once, then the ledger.

The loop reads time from an injectable clock, so a test can run an hour of minutes in a
second. Several replicas may run it: the first to record a service's minute wins, and only
its result opens or closes incidents.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime

from meterhub_common.db import Database
from meterhub_notifier.availability.arithmetic import floor_minute
from meterhub_notifier.availability.service import LedgerService, ProbeResult
from meterhub_notifier.clock import Clock
from meterhub_notifier.metrics import SloMetrics
from meterhub_notifier.probes.base import Probe
from meterhub_notifier.settings import NotifierSettings

log = logging.getLogger(__name__)


class ProbeRunner:
    def __init__(
        self,
        probes: Sequence[Probe],
        *,
        database: Database,
        settings: NotifierSettings,
        clock: Clock,
        metrics: SloMetrics | None = None,
        on_notices: Callable[[], None] | None = None,
    ) -> None:
        self.probes = list(probes)
        self.database = database
        self.settings = settings
        self.clock = clock
        self.metrics = metrics
        self.on_notices = on_notices
        self.last_minute: datetime | None = None

    async def _run(self, probe: Probe) -> ProbeResult:
        started = time.monotonic()
        try:
            await asyncio.wait_for(probe.check(), timeout=self.settings.probe_timeout_seconds)
        except TimeoutError:
            return ProbeResult(
                False, None, f"no answer within {self.settings.probe_timeout_seconds:g} s"
            )
        except Exception as exc:  # a probe failing in any way is the finding, not a crash
            return ProbeResult(False, int((time.monotonic() - started) * 1000), str(exc)[:2000])
        return ProbeResult(True, int((time.monotonic() - started) * 1000))

    async def tick(self) -> dict[str, ProbeResult]:
        """Probe every service once and record the current minute."""
        minute = floor_minute(self.clock.now())
        results = await asyncio.gather(*(self._run(p) for p in self.probes))
        by_service = {p.service: r for p, r in zip(self.probes, results, strict=True)}
        issued = 0
        async with self.database.sessionmaker() as session:
            ledger = LedgerService(session, self.settings, self.clock)
            recorded = {}
            for service, result in by_service.items():
                recorded[service] = await ledger.record(service, minute, result)
            await session.commit()
            issued = ledger.notices_issued
            if self.metrics is not None:
                for service, state in recorded.items():
                    if state is not None:
                        self.metrics.record_minute(service, state.value)
                await self.metrics.refresh(session, self.clock.now())
        for service, result in by_service.items():
            if not result.ok:
                log.warning(
                    "probe failed",
                    extra={"service": service, "minute": minute.isoformat(), "error": result.error},
                )
        if issued and self.on_notices is not None:
            self.on_notices()
        self.last_minute = minute
        return by_service

    async def run(self, stop: asyncio.Event) -> None:
        interval = self.settings.probe_interval_seconds
        while not stop.is_set():
            now = self.clock.now()
            # Start at the next whole interval (the top of the minute for 60 s).
            epoch = now.timestamp()
            wait = interval - (epoch % interval)
            sleeper = asyncio.ensure_future(self.clock.sleep(wait))
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait([sleeper, stopper], return_when=asyncio.FIRST_COMPLETED)
            sleeper.cancel()
            stopper.cancel()
            if stop.is_set():
                return
            try:
                await self.tick()
            except Exception:  # one bad minute (database restart) must not end probing
                log.exception("probe round failed")
                await self.clock.sleep(min(interval, 5.0))
