"""Adaptive concurrency for one model: halve on a 429, grow back by one per round of successes (AIMD).

A limited key answers 429 to whatever exceeds its rate, so a run at concurrency 32 against it would turn into
a storm of failures. Here every call takes a slot first: a 429 halves the slots (once per round: the answers
of calls that were already in flight do not halve it again), holds every new call until the server's
Retry-After (or a backoff) has passed, and each success adds 1/limit, so the limit regains one slot per
round of successes, up to the run's concurrency. Event-loop only: no locks.
"""

from __future__ import annotations

import asyncio


class AdaptiveLimit:
    """How many calls to one model may be in flight now, and until when all of them must wait."""

    def __init__(self, ceiling: int) -> None:
        self.ceiling = max(1, ceiling)
        self.limit = float(self.ceiling)
        self.lowest = self.ceiling
        self.in_flight = 0
        self.epoch = 0  # bumped at each decrease; a 429 of an older epoch was already counted
        self.not_before = 0.0  # loop time before which no call starts (the server's Retry-After)
        self._waiters: list[asyncio.Future[None]] = []

    def allowed(self) -> int:
        """Return the number of calls that may be in flight now."""
        return max(1, int(self.limit))

    def set_ceiling(self, ceiling: int) -> None:
        """Use a run's concurrency as the ceiling; a lowered limit stays lowered (the key's rate did not change)."""
        self.ceiling = max(1, ceiling)
        self.limit = min(self.limit, float(self.ceiling))

    def try_acquire(self) -> int | None:
        """Take a slot now if one is free and no hold is on; return its epoch, else None (no waiting)."""
        if self.in_flight < self.allowed() and asyncio.get_running_loop().time() >= self.not_before:
            self.in_flight += 1
            return self.epoch
        return None

    async def acquire(self) -> tuple[int, float]:
        """Wait for a slot; return the epoch the call starts in and the seconds spent waiting."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        while True:
            now = loop.time()
            if now < self.not_before:
                await asyncio.sleep(self.not_before - now)
                continue
            if self.in_flight < self.allowed():
                self.in_flight += 1
                return self.epoch, loop.time() - started
            waiter = loop.create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)

    def release(self, epoch: int, *, rate_limited: bool = False, wait_s: float = 0.0, grow: bool = True) -> None:
        """Give the slot back; a success grows the limit (unless `grow` is off: another failure), a 429 halves it."""
        self.in_flight -= 1
        if rate_limited:
            if epoch == self.epoch:
                self.limit = max(1.0, self.limit / 2)
                self.epoch += 1
                self.lowest = min(self.lowest, self.allowed())
            loop = asyncio.get_running_loop()
            self.not_before = max(self.not_before, loop.time() + wait_s)
        elif grow:
            self.limit = min(float(self.ceiling), self.limit + 1 / self.limit)
        # Wake everyone: each re-checks the limit and the hold; at most a run's concurrency are waiting.
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
