"""The shipped Prometheus rules: the four burn-rate pairs of a 99% 30-day objective."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

RULES = Path(__file__).resolve().parents[2] / "services/notifier/alerts/prometheus-rules.yaml"
PAIRS = {("1h", "5m"): 14.4, ("6h", "30m"): 6.0, ("1d", "2h"): 3.0, ("3d", "6h"): 1.0}


def test_burn_rate_pairs_for_http_and_probe_signals() -> None:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    recorded = {r["record"]: r["expr"] for g in groups for r in g["rules"] if "record" in r}
    alerts = [r for g in groups for r in g["rules"] if "alert" in r]
    for signal in ("http_5xx_ratio", "probe_down_ratio"):
        found = {}
        for alert in alerts:
            side = rf"meterhub:{signal}:rate(\w+) > ([\d.]+)\n"
            match = re.fullmatch(side + "and\n" + side, alert["expr"])
            if not match:
                continue
            long, first, short, second = match.groups()
            assert first == second
            assert f"meterhub:{signal}:rate{long}" in recorded
            assert f"meterhub:{signal}:rate{short}" in recorded
            found[(long, short)] = float(first)
            assert alert["labels"]["severity"] in ("page", "ticket")
        assert found == {pair: round(factor * 0.01, 6) for pair, factor in PAIRS.items()}
    assert 'http_response_status_code=~"5.."' in recorded["meterhub:http_5xx_ratio:rate1h"]
    probe = recorded["meterhub:probe_down_ratio:rate5m"]
    assert 'meterhub_probe_minutes_total{state="down"}[5m]' in probe
    # Planned maintenance minutes are in neither side of the ratio.
    assert 'state=~"up|down"' in probe and "maintenance" not in probe
