"""Doing something once per key (a hint per person and channel), with bounded memory."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable


class OncePer:
    """Remembers the keys it has seen; beyond ``limit`` keys the oldest are forgotten, so
    a busy bot's memory stays bounded (at worst someone sees a hint a second time)."""

    def __init__(self, limit: int = 10_000) -> None:
        self.limit = limit
        self._seen: OrderedDict[Hashable, None] = OrderedDict()

    def first(self, key: Hashable) -> bool:
        """True the first time ``key`` is seen (and it is remembered), False after that."""
        if key in self._seen:
            self._seen.move_to_end(key)
            return False
        self._seen[key] = None
        while len(self._seen) > self.limit:
            self._seen.popitem(last=False)
        return True

    def __len__(self) -> int:
        return len(self._seen)
