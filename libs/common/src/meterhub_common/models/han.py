"""Tables owned by the han service."""

from __future__ import annotations
