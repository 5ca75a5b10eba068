"""Rate limiting and retry timing: stay under a provider's limits, back off when told.

A `RateLimiter` holds two token buckets (requests and tokens per minute). A request
takes one request token and an *estimate* of its tokens before it is sent, and the
estimate is corrected with the real usage afterwards, so a long job converges on the
provider's budget instead of bursting into 429s. A 429 with `Retry-After` pauses the
whole endpoint, not only the request that saw it: the other in-flight requests would
hit the same wall.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections.abc import Mapping


class _Bucket:
    """Continuous-refill token bucket; capacity is a few seconds' worth of the rate."""

    __slots__ = ("capacity", "level", "rate", "stamp")

    def __init__(self, per_minute: float, burst_seconds: float) -> None:
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, self.rate * burst_seconds)
        self.level = self.capacity
        self.stamp = time.monotonic()

    def refill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now

    def wait_for(self, amount: float) -> float:
        """Seconds until `amount` is available (0 when it is). Amounts above capacity are
        clamped, so one huge request waits for a full bucket rather than forever."""
        need = min(amount, self.capacity) - self.level
        return 0.0 if need <= 0 else need / self.rate


class RateLimiter:
    """Requests-per-minute and tokens-per-minute limits for one endpoint."""

    def __init__(
        self, rpm: float | None = None, tpm: float | None = None, *, burst_seconds: float = 5.0
    ) -> None:
        self.requests = _Bucket(rpm, burst_seconds) if rpm else None
        self.tokens = _Bucket(tpm, burst_seconds) if tpm else None
        self.paused_until = 0.0
        self.waits = 0  # how often a caller had to wait (for reports and tests)

    async def acquire(self, tokens: float = 0.0) -> None:
        """Wait until one request and `tokens` tokens may be spent, then spend them."""
        while True:
            now = time.monotonic()
            delay = self.paused_until - now
            if delay <= 0:
                delay = 0.0
                for bucket, amount in ((self.requests, 1.0), (self.tokens, tokens)):
                    if bucket is not None:
                        bucket.refill(now)
                        delay = max(delay, bucket.wait_for(amount))
                if delay <= 0:
                    if self.requests is not None:
                        self.requests.level -= 1.0
                    if self.tokens is not None:
                        self.tokens.level -= min(tokens, self.tokens.capacity)
                    return
            self.waits += 1
            await asyncio.sleep(delay)

    def settle(self, estimated: float, actual: float | None) -> None:
        """Correct the token bucket once the real usage is known (refund or debt)."""
        if self.tokens is not None and actual is not None:
            self.tokens.level += min(estimated, self.tokens.capacity) - actual

    def pause(self, seconds: float) -> None:
        """Hold every request to this endpoint for `seconds` (after a 429)."""
        self.paused_until = max(self.paused_until, time.monotonic() + seconds)


def retry_after(headers: Mapping[str, str] | None, *, cap: float = 300.0) -> float | None:
    """Seconds a server asked us to wait: `retry-after-ms`, `Retry-After` (seconds or date)."""
    if not headers:
        return None
    value = headers.get("retry-after-ms")
    if value:
        try:
            return min(cap, max(0.0, float(value) / 1000.0))
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return min(cap, max(0.0, float(value)))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return min(cap, max(0.0, when.timestamp() - time.time()))


def backoff(
    attempt: int, *, base: float = 1.0, cap: float = 60.0, hint: float | None = None
) -> float:
    """Delay before retry number `attempt` (1-based): exponential with full jitter, but
    never shorter than what the server asked for (plus a little jitter so that many
    clients told the same `Retry-After` do not return in lockstep)."""
    if hint is not None:
        return hint + random.uniform(0.0, min(1.0, 0.1 * hint + 0.05))
    return random.uniform(0.5, 1.0) * min(cap, base * (2 ** (attempt - 1)))


def estimate_tokens(messages: list[dict[str, str]], max_tokens: int | None) -> float:
    """Rough token count for the limiter before the real usage is known (~4 chars/token)."""
    chars = sum(len(m.get("content") or "") for m in messages if isinstance(m.get("content"), str))
    return chars / 4.0 + (max_tokens or 256)
