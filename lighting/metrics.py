"""Counters of what the controller did and refused: named, monotonic, cheap to bump.

Every refusal of bad input is counted here under a dotted name (``coap.refused.bad-payload``)
so that an operator can see it; the controller exposes a snapshot.
"""

from __future__ import annotations

from collections import Counter


class Counters:
    """A set of named monotonic counters."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()

    def incr(self, name: str, amount: int = 1) -> None:
        self._counts[name] += amount

    def __getitem__(self, name: str) -> int:
        return self._counts[name]

    def snapshot(self) -> dict[str, int]:
        return dict(sorted(self._counts.items()))

    def total(self, prefix: str) -> int:
        """The sum of every counter whose name starts with ``prefix``."""
        return sum(count for name, count in self._counts.items() if name.startswith(prefix))
