"""Tables owned by the ftps-publisher service."""

from __future__ import annotations
