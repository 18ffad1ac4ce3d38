"""JSON logs that carry the request id and a trace id on every line of a request.

The trace id is the OpenTelemetry span's when requests are traced (an OTLP endpoint is
configured, see telemetry); otherwise the one the caller sent in a W3C ``traceparent``, or
one made for the request, so lines can still be followed across services without paying
for spans nobody collects."""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar

from opentelemetry import trace
from pythonjsonlogger.json import JsonFormatter

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
trace_id_var: ContextVar[str | None] = ContextVar("trace_id", default=None)


class _ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            record.trace_id = format(context.trace_id, "032x")
            record.span_id = format(context.span_id, "016x")
        else:
            record.trace_id = trace_id_var.get()
            record.span_id = None
        return True


def configure_logging(service: str, level: str = "INFO") -> None:
    """Replace root handlers with one JSON handler on stdout (idempotent)."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            static_fields={"service": service},
        )
    )
    handler.addFilter(_ContextFilter())
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    # uvicorn installs its own handlers; route its records through ours.
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers = []
        logger.propagate = True
    # Its access log only when it is on: ``--no-access-log`` leaves the logger without
    # handlers and not propagating, and turning it back on costs a line per request.
    access = logging.getLogger("uvicorn.access")
    if access.handlers:
        access.handlers = []
        access.propagate = True
