"""A token bucket per client address for the unauthenticated /public/ routes.

Each address starts with ``burst`` tokens and gains ``rate_per_minute / 60`` per second, up to
``burst``; a request takes one token, and a request finding none is refused (429 with
Retry-After, services/errors.RateLimited). The buckets live in the serving process (with
several workers each counts its own share) and the least recently used are dropped past
``MAX_CLIENTS``. The address is the TCP peer's: behind a reverse proxy, have the proxy limit
too (X-Forwarded-For is not trusted, since anyone can write it).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict

from fastapi import Request

from powerflow.services.errors import RateLimited

MAX_CLIENTS = 100_000


class TokenBuckets:
    """Per-address token buckets (thread-safe)."""

    def __init__(self, rate_per_minute: int, burst: int) -> None:
        self.rate = rate_per_minute / 60.0
        self.burst = float(burst)
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, client: str, now: float | None = None) -> float:
        """Take a token for ``client``: 0 if allowed, else the seconds until one is there."""
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._buckets.pop(client, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            wait = 0.0
            if tokens >= 1.0:
                tokens -= 1.0
            else:
                wait = (1.0 - tokens) / self.rate
            self._buckets[client] = (tokens, now)
            while len(self._buckets) > MAX_CLIENTS:
                self._buckets.popitem(last=False)
        return wait


async def public_rate_limit(request: Request) -> None:
    """The dependency of every /public/ route: refuse a client over its rate."""
    buckets: TokenBuckets = request.app.state.public_buckets
    client = request.client.host if request.client is not None else "unknown"
    wait = buckets.take(client)
    if wait > 0:
        seconds = max(1, math.ceil(wait))
        raise RateLimited(
            f"Too many requests from your address to the public pages: wait {seconds} "
            f"second{'s' if seconds != 1 else ''} and try again.",
            retry_after=seconds,
        )
