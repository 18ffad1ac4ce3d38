"""Local development and test stack for Meterhub (not deployed)."""
