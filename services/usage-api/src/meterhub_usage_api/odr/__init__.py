"""On-demand meter reads forwarded to the TDSP head-ends (seed 002, 4.1)."""
