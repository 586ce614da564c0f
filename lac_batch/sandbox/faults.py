"""Faults the sandbox injects on purpose: latency, error statuses, dropped connections, rate limit.

Every request draws its fate once, on arrival, from one ``random.Random(seed)``, so the same seed
and the same order of requests give the same faults again. A rate limit depends on timing, not on
the dice; it is checked after the draw so that it never shifts the sequence of draws.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import deque
from dataclasses import dataclass
from enum import Enum

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []


@dataclass(frozen=True)
class FaultConfig:
    """What may go wrong, and how often. The default injects nothing.

    Probabilities are per request and exclusive: their sum must not exceed 1.
    """

    latency_s: float = 0.0
    """Fixed delay before a request is processed."""
    latency_jitter_s: float = 0.0
    """Up to this much more delay, drawn uniformly per request."""
    p_429: float = 0.0
    """Fraction of requests answered 429 with ``Retry-After: retry_after_s``."""
    retry_after_s: int = 1
    """Seconds sent in ``Retry-After`` with an injected 429."""
    p_503: float = 0.0
    """Fraction of requests answered 503."""
    p_500: float = 0.0
    """Fraction of requests answered 500."""
    p_close_before: float = 0.0
    """Fraction of requests whose connection is closed before processing: nothing is recorded."""
    p_close_after: float = 0.0
    """Fraction of requests processed as usual whose connection is then closed unanswered."""
    rate_limit_per_s: int | None = None
    """Requests admitted in any one-second window; the rest get 429 with ``Retry-After``."""
    seed: int | None = None
    """Seed of the dice; None draws a different sequence every run."""

    def __post_init__(self) -> None:
        probabilities = {
            "p_429": self.p_429,
            "p_503": self.p_503,
            "p_500": self.p_500,
            "p_close_before": self.p_close_before,
            "p_close_after": self.p_close_after,
        }
        for name, probability in probabilities.items():
            if not 0.0 <= probability <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {probability}")
        # A small tolerance lets fractions such as 0.1 + 0.2 + 0.7 add up to 1.
        if sum(probabilities.values()) > 1.0 + 1e-9:
            raise ValueError("the fault probabilities must add up to at most 1")
        if self.latency_s < 0 or self.latency_jitter_s < 0:
            raise ValueError("latency must not be negative")
        if self.retry_after_s < 0:
            raise ValueError("retry_after_s must not be negative")
        if self.rate_limit_per_s is not None and self.rate_limit_per_s < 1:
            raise ValueError("rate_limit_per_s must be at least 1")


class Fault(Enum):
    """What happens to one request instead of (or after) normal processing."""

    RATE_LIMITED = "rate_limited"
    """Over the configured rate limit: 429."""
    TOO_MANY_REQUESTS = "429"
    SERVICE_UNAVAILABLE = "503"
    INTERNAL_ERROR = "500"
    CLOSE_BEFORE = "close_before"
    CLOSE_AFTER = "close_after"


@dataclass(frozen=True)
class FaultDecision:
    """The fate of one request: an optional fault and the delay before it is processed."""

    fault: Fault | None
    delay_s: float
    retry_after_s: int | None = None
    """For the two 429 faults: seconds to announce in ``Retry-After``."""


class RateLimiter:
    """Admits at most ``per_second`` requests in any sliding one-second window."""

    def __init__(self, per_second: int) -> None:
        self._per_second = per_second
        self._admitted: deque[float] = deque()

    def retry_after(self, now: float) -> int | None:
        """None if the request is admitted (and counted); else whole seconds to wait, at least 1."""
        while self._admitted and self._admitted[0] <= now - 1.0:
            self._admitted.popleft()
        if len(self._admitted) < self._per_second:
            self._admitted.append(now)
            return None
        return max(1, math.ceil(self._admitted[0] + 1.0 - now))


class FaultInjector:
    """Draws each request's fate; its configuration can be replaced from another thread."""

    def __init__(self, config: FaultConfig) -> None:
        self._lock = threading.Lock()
        self.configure(config)

    def configure(self, config: FaultConfig) -> None:
        """Use new faults from the next request on; the dice restart from the new seed."""
        limiter = None if config.rate_limit_per_s is None else RateLimiter(config.rate_limit_per_s)
        with self._lock:
            self._config = config
            self._random = random.Random(config.seed)
            self._limiter = limiter

    @property
    def config(self) -> FaultConfig:
        with self._lock:
            return self._config

    def draw(self) -> FaultDecision:
        """Decide what happens to the request that just arrived."""
        with self._lock:
            config = self._config
            roll = self._random.random()
            delay_s = config.latency_s
            if config.latency_jitter_s > 0:
                delay_s += self._random.uniform(0.0, config.latency_jitter_s)
            if self._limiter is not None:
                wait_s = self._limiter.retry_after(time.monotonic())
                if wait_s is not None:
                    return FaultDecision(Fault.RATE_LIMITED, delay_s, retry_after_s=wait_s)
        return _decide(config, roll, delay_s)


def _decide(config: FaultConfig, roll: float, delay_s: float) -> FaultDecision:
    # One roll against stacked bands keeps the faults exclusive and each at its own fraction.
    bands = (
        (config.p_429, Fault.TOO_MANY_REQUESTS),
        (config.p_503, Fault.SERVICE_UNAVAILABLE),
        (config.p_500, Fault.INTERNAL_ERROR),
        (config.p_close_before, Fault.CLOSE_BEFORE),
        (config.p_close_after, Fault.CLOSE_AFTER),
    )
    upper = 0.0
    for probability, fault in bands:
        upper += probability
        if roll < upper:
            retry_after_s = config.retry_after_s if fault is Fault.TOO_MANY_REQUESTS else None
            return FaultDecision(fault, delay_s, retry_after_s)
    return FaultDecision(None, delay_s)
