"""Meterhub code shared by two or more services."""
