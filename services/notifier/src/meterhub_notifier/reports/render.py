"""The monthly report as CSV (one measure per row) and as a PNG chart.

The chart is drawn with matplotlib's object API on the Agg canvas, never pyplot, so no global
backend state is touched and drawing is safe in a worker thread.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

CSV_HEADER = ("section", "subject", "date", "metric", "value")


def _value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def report_csv(report: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    month = report["month"]
    for group in ("services", "market_services"):
        for item in report["availability"][group]:
            for metric, value in item.items():
                if metric not in ("service", "kind"):
                    writer.writerow(("availability", item["service"], month, metric, _value(value)))
    ttm = report["time_to_market"]
    writer.writerow(("time_to_market", "all", month, "files", ttm["files"]))
    for leg in ("to_api", "to_ftps"):
        for metric, value in ttm[leg].items():
            writer.writerow(("time_to_market", leg, month, metric, _value(value)))
    quality = report["data_quality"]
    for metric in (
        "estimated_intervals",
        "actual_intervals",
        "missing_intervals",
        "estimated_share_percent",
        "missing_esiid_days",
    ):
        writer.writerow(("data_quality", "all", month, metric, _value(quality[metric])))
    for row in quality["by_tdsp"]:
        for metric, value in row.items():
            if metric != "tdsp_duns":
                writer.writerow(("data_quality", row["tdsp_duns"], month, metric, _value(value)))
    han = report["han_devices"]
    writer.writerow(("han_devices", "all", month, "available", _value(han["available"])))
    for row in han["by_status"]:
        writer.writerow(("han_devices", row["key"], month, "devices_by_status", row["count"]))
    for row in han["by_territory"]:
        writer.writerow(("han_devices", row["key"], month, "devices_by_territory", row["count"]))
        for status, count in sorted(row.get("by_status", {}).items()):
            subject = f"{row['key']}/{status}"
            writer.writerow(
                ("han_devices", subject, month, "devices_by_territory_and_status", count)
            )
    for incident in report["incidents"]:
        writer.writerow(
            (
                "incident",
                incident["service"],
                incident["started_at"],
                "minutes",
                _value(incident["minutes"]),
            )
        )
    for day in report["daily"]:
        for service, value in day["availability_percent"].items():
            writer.writerow(
                ("daily_availability", service, day["date"], "availability_percent", _value(value))
            )
        for metric in ("time_to_api_median_seconds", "time_to_ftps_median_seconds"):
            writer.writerow(
                ("daily_time_to_market", "all", day["date"], metric, _value(day[metric]))
            )
    return out.getvalue()


def report_png(report: dict[str, Any]) -> bytes:
    """Daily availability per service (top) and daily median time to market (bottom)."""
    # Imported here: matplotlib takes seconds to import, and only this endpoint needs it.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    days = [date.fromisoformat(d["date"]) for d in report["daily"]]
    figure = Figure(figsize=(11, 7.5), dpi=100)
    FigureCanvasAgg(figure)
    top, bottom = figure.subplots(2, 1, sharex=True)
    objective = report["objective_percent"]
    lowest = objective
    services = sorted({s for d in report["daily"] for s in d["availability_percent"]})
    for service in services:
        values = [d["availability_percent"].get(service) for d in report["daily"]]
        points = [(day, v) for day, v in zip(days, values, strict=True) if v is not None]
        if points:
            lowest = min(lowest, *(v for _, v in points))
            top.plot(
                [p[0] for p in points],
                [p[1] for p in points],
                marker="o",
                markersize=3,
                label=service,
            )
    top.axhline(
        objective, color="#b00020", linestyle="--", linewidth=1, label=f"objective {objective:g}%"
    )
    top.set_ylim(max(0.0, lowest - 1.0), 100.5)
    top.set_ylabel("availability (%)")
    top.set_title(f"Meterhub monthly SLO report, {report['month']} (Central time)")
    top.legend(loc="lower left", fontsize=8, ncols=3)
    top.grid(True, alpha=0.3)
    api = [d["time_to_api_median_seconds"] for d in report["daily"]]
    ftps = [d["time_to_ftps_median_seconds"] for d in report["daily"]]
    bottom.bar(
        days,
        [v / 60 if v is not None else 0 for v in api],
        width=0.4,
        align="edge",
        label="queryable in the API",
    )
    bottom.bar(
        days,
        [v / 60 if v is not None else 0 for v in ftps],
        width=-0.4,
        align="edge",
        label="in the REP's FTPS folder",
    )
    bottom.set_ylabel("median time to market (min)")
    bottom.legend(loc="upper left", fontsize=8)
    bottom.grid(True, axis="y", alpha=0.3)
    figure.autofmt_xdate()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
