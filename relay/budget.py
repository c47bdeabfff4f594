"""A process-wide budget for message bytes held in memory.

Sessions reserve bytes before taking them from their socket. When the budget is spent, a
session waits, its socket is not read, and TCP pushes back on the sender. To guarantee progress
the oldest holder never waits: it can always fill its buffer up to the store's next flush, which
then releases memory for everyone. Memory is therefore bounded by the limit plus one write batch.
"""

import asyncio


class ByteBudget:
    def __init__(self, limit: int) -> None:
        if limit <= 0:
            raise ValueError("budget limit must be positive")
        self.limit = limit
        self.used = 0
        self.peak = 0
        self._held: dict[object, int] = {}
        self._changed = asyncio.Condition()
        self._waiting = 0

    def held(self, owner: object) -> int:
        return self._held.get(owner, 0)

    def _is_oldest(self, owner: object) -> bool:
        return next(iter(self._held), owner) is owner

    async def reserve(self, owner: object, amount: int) -> None:
        """Add `amount` to what `owner` holds, waiting while the budget is spent."""
        if self.used + amount > self.limit and not self._is_oldest(owner):
            self._waiting += 1
            try:
                async with self._changed:
                    await self._changed.wait_for(
                        lambda: self.used + amount <= self.limit or self._is_oldest(owner)
                    )
            finally:
                self._waiting -= 1
        self._set(owner, self.held(owner) + amount)

    def set(self, owner: object, amount: int) -> None:
        """Record that `owner` now holds exactly `amount` (after a flush released some)."""
        before = self.used
        self._set(owner, amount)
        if self.used < before and self._waiting:
            asyncio.get_running_loop().create_task(self._notify())

    def release(self, owner: object) -> None:
        self.set(owner, 0)

    def _set(self, owner: object, amount: int) -> None:
        self.used += amount - self.held(owner)
        if amount:
            self._held[owner] = amount
        else:
            self._held.pop(owner, None)
        self.peak = max(self.peak, self.used)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()
