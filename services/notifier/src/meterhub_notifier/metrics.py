"""SLO metrics through OpenTelemetry: probe minutes, availability, error budget, burn rate.

``meterhub.probe.minutes`` (a counter by service and state) is what the Prometheus burn-rate
rules read (``meterhub_probe_minutes_total`` once exported). The gauges are a convenience
for dashboards, computed from the shared ledger every minute, so every replica reports the
same values (aggregate them with ``max by (service)``).

Burn rate = (down minutes / up+down minutes in the window) / (1 - objective): 1 spends the
budget exactly over 30 days, 14.4 spends 2% of it in an hour.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation
from sqlalchemy.ext.asyncio import AsyncSession

from meterhub_notifier.availability.repository import window_counts

BURN_WINDOWS = {
    "5m": timedelta(minutes=5),
    "30m": timedelta(minutes=30),
    "1h": timedelta(hours=1),
    "2h": timedelta(hours=2),
    "6h": timedelta(hours=6),
    "1d": timedelta(days=1),
    "3d": timedelta(days=3),
    "30d": timedelta(days=30),
}


class SloMetrics:
    def __init__(self, objective_percent: float) -> None:
        self.budget = 1 - objective_percent / 100
        meter = metrics.get_meter("meterhub.notifier")
        self.minutes = meter.create_counter(
            "meterhub.probe.minutes",
            unit="{minute}",
            description="Probed minutes by service and ledger state (up, down, maintenance)",
        )
        self.ratio: dict[str, float] = {}
        self.remaining: dict[str, float] = {}
        self.burn: dict[tuple[str, str], float] = {}
        meter.create_observable_gauge(
            "meterhub.availability.ratio",
            callbacks=[self._observe_ratio],
            unit="1",
            description="Up / (up + down) minutes over the last 30 days, maintenance excluded",
        )
        meter.create_observable_gauge(
            "meterhub.error_budget.remaining",
            callbacks=[self._observe_remaining],
            unit="1",
            description="Share of the 30-day error budget left (1 untouched, below 0 overspent)",
        )
        meter.create_observable_gauge(
            "meterhub.error_budget.burn_rate",
            callbacks=[self._observe_burn],
            unit="1",
            description="Rate of spending the error budget over a window (1 = exactly 30 days)",
        )

    def record_minute(self, service: str, state: str) -> None:
        self.minutes.add(1, {"service": service, "state": state})

    def update(self, counts: dict[str, dict[str, tuple[int, int]]]) -> None:
        for service, windows in counts.items():
            for window, (down, counted) in windows.items():
                fraction = down / counted if counted else 0.0
                self.burn[(service, window)] = fraction / self.budget
            down30, counted30 = windows["30d"]
            self.ratio[service] = 1 - down30 / counted30 if counted30 else 1.0
            allowed = self.budget * counted30
            self.remaining[service] = 1 - down30 / allowed if allowed else 1.0

    async def refresh(self, session: AsyncSession, now: datetime) -> None:
        since = {name: now - span for name, span in BURN_WINDOWS.items()}
        self.update(await window_counts(session, now, since))

    def _observe_ratio(self, _: CallbackOptions) -> Iterable[Observation]:
        return [Observation(v, {"service": s, "window": "30d"}) for s, v in self.ratio.items()]

    def _observe_remaining(self, _: CallbackOptions) -> Iterable[Observation]:
        return [Observation(v, {"service": s}) for s, v in self.remaining.items()]

    def _observe_burn(self, _: CallbackOptions) -> Iterable[Observation]:
        return [Observation(v, {"service": s, "window": w}) for (s, w), v in self.burn.items()]
