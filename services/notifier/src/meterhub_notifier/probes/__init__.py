"""Synthetic probes: one real transaction per service per minute."""
