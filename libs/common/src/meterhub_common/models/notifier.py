"""Tables owned by the notifier service."""

from __future__ import annotations
