"""The monthly SLO report (seed 002 sections 3.4, 4.4, 5.4, 7.4): JSON, CSV and a PNG chart."""
