"""Token buckets in this process's memory, one per key (a client id or a client address).

A bucket holds at most ``burst`` tokens and refills at ``rate`` per second; a request takes one.
The state is per replica: behind a load balancer with N replicas a client can reach N times the
configured figures, which the settings document. Nothing here awaits, so no lock is needed on
one event loop.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Policy:
    """A named quota: ``burst`` requests at once, refilled at ``rate`` per second."""

    name: str
    rate: float
    burst: int

    @property
    def window_seconds(self) -> int:
        """The time an empty bucket takes to fill: the ``w`` of the RateLimit-Policy field."""
        return max(1, math.ceil(self.burst / self.rate))

    def policy_field(self) -> str:
        return f'"{self.name}";q={self.burst};w={self.window_seconds}'


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    remaining: int
    reset_seconds: int
    retry_after_seconds: int

    def limit_field(self, policy: Policy) -> str:
        return f'"{policy.name}";r={self.remaining};t={self.reset_seconds}'


class TokenBuckets:
    def __init__(
        self,
        policy: Policy,
        *,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy = policy
        self._max_keys = max_keys
        self._clock = clock
        self._buckets: dict[str, list[float]] = {}  # key -> [tokens, last refill time]

    def take(self, key: str) -> Decision:
        policy = self.policy
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self._max_keys:
                self._forget_full(now)
            bucket = [float(policy.burst), now]
            self._buckets[key] = bucket
        else:
            bucket[0] = min(float(policy.burst), bucket[0] + (now - bucket[1]) * policy.rate)
            bucket[1] = now
        allowed = bucket[0] >= 1.0
        if allowed:
            bucket[0] -= 1.0
        tokens = bucket[0]
        reset = math.ceil((policy.burst - tokens) / policy.rate)
        retry_after = 0 if allowed else max(1, math.ceil((1.0 - tokens) / policy.rate))
        return Decision(allowed, int(tokens), reset, retry_after)

    def _forget_full(self, now: float) -> None:
        # A bucket that would be full again carries no state worth keeping.
        policy = self.policy
        full = [
            key
            for key, (tokens, updated) in self._buckets.items()
            if tokens + (now - updated) * policy.rate >= policy.burst
        ]
        for key in full:
            del self._buckets[key]
        if len(self._buckets) >= self._max_keys:
            self._buckets.clear()


@dataclass(frozen=True, slots=True)
class RateLimiter:
    """The buckets for authenticated clients and those for everything else."""

    clients: TokenBuckets
    anonymous: TokenBuckets

    @classmethod
    def from_figures(
        cls, *, rate: float, burst: int, anonymous_rate: float, anonymous_burst: int
    ) -> RateLimiter:
        return cls(
            clients=TokenBuckets(Policy("client", rate, burst)),
            anonymous=TokenBuckets(Policy("anonymous", anonymous_rate, anonymous_burst)),
        )
