"""OpenTelemetry traces and metrics: OTLP export only when an endpoint is configured."""

from __future__ import annotations

import os

from fastapi import FastAPI
from opentelemetry import metrics, trace
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from sqlalchemy.ext.asyncio import AsyncEngine

_providers_installed = False


def exporting() -> bool:
    """Whether traces and metrics leave the process (an OTLP endpoint is configured)."""
    return bool(os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"))


def setup_telemetry(service: str) -> None:
    """Install global providers once per process.

    Without an endpoint nothing is exported, so the per-request instrumentation below is not
    installed either: its spans would be thrown away, and making them cost a one-day usage
    read 0.6 of its 1.5 ms of CPU. Logs then carry a trace id of their own (see logs).
    """
    global _providers_installed
    # Dashboards and SLO rules read the stable http.server.request.duration (seconds).
    os.environ.setdefault("OTEL_SEMCONV_STABILITY_OPT_IN", "http")
    if _providers_installed:
        return
    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", service)})
    tracer_provider = TracerProvider(resource=resource)
    readers: list[MetricReader] = []
    if exporting():
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        readers.append(PeriodicExportingMetricReader(OTLPMetricExporter()))
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=readers))
    HTTPXClientInstrumentor().instrument()
    _providers_installed = True


def instrument_app(app: FastAPI) -> None:
    if not exporting():
        return
    FastAPIInstrumentor.instrument_app(app, excluded_urls="healthz,readyz")


def instrument_engine(engine: AsyncEngine) -> None:
    if not exporting():
        return
    SQLAlchemyInstrumentor().instrument(engine=engine.sync_engine)
