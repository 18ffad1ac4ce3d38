"""The minute ledger, incidents, and availability as seed 002 defines it."""
