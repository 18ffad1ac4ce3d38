"""The ingest service's OpenTelemetry metrics (meter ``meterhub.ingest``).

- ``meterhub.ingest.records`` (counter): records processed, by result ``code`` and file ``kind``;
- ``meterhub.ingest.time_to_market`` (histogram, seconds): from a file's receipt to the commit
  that makes its records queryable;
- ``meterhub.ingest.bytes_received`` (counter, bytes): request bodies accepted as files;
- ``meterhub.ingest.files_pending`` (observable gauge): files received and not yet finished.

Instruments are made when an ``IngestMetrics`` is built (after the meter provider is
installed), once in the API process and once in each worker process.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Meter, MeterProvider, Observation

METER_NAME = "meterhub.ingest"


class IngestMetrics:
    def __init__(self, provider: MeterProvider | None = None) -> None:
        meter: Meter = (provider or metrics.get_meter_provider()).get_meter(METER_NAME)
        self._records = meter.create_counter(
            "meterhub.ingest.records",
            unit="{record}",
            description="Records processed from TDSP files, by result code",
        )
        self._time_to_market = meter.create_histogram(
            "meterhub.ingest.time_to_market",
            unit="s",
            description="Seconds from a file's receipt to the commit of its records",
        )
        self._bytes = meter.create_counter(
            "meterhub.ingest.bytes_received",
            unit="By",
            description="Bytes of TDSP files received",
        )
        # Refreshed by the API process's supervisor loop; the gauge reports the last value.
        self.pending_files: int | None = None
        meter.create_observable_gauge(
            "meterhub.ingest.files_pending",
            callbacks=[self._observe_pending],
            unit="{file}",
            description="Files received and not yet loaded or rejected",
        )

    def _observe_pending(self, _: CallbackOptions) -> Iterable[Observation]:
        if self.pending_files is None:
            return []
        return [Observation(self.pending_files)]

    def records(self, kind: str, counts: Mapping[str, int]) -> None:
        for code, count in counts.items():
            if count:
                self._records.add(count, {"code": code, "kind": kind})

    def time_to_market(self, kind: str, seconds: float) -> None:
        self._time_to_market.record(max(seconds, 0.0), {"kind": kind})

    def bytes_received(self, kind: str, size: int, *, via: str) -> None:
        self._bytes.add(size, {"kind": kind, "via": via})
