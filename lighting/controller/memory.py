"""The garbage collector for a daemon that holds a city in memory.

CPython's cyclic collector looks at every tracked object again and again as it ages: a
collection of the oldest generation walks the whole registry, the delivery engine's state
and every cache, tens of thousands of lamps' worth. It is started by allocations, and a
city-wide change allocates a burst (a command, an exchange and an outcome per lamp): in the
fan-out benchmark of 10,000 lamps one such collection took 57 to 163 ms of the change, and
the young generations another 25 ms (docs/performance.md, "the collector").

The daemon's long-lived objects are made when it starts (the lamps it loads) and as lamps
register, and live until it stops. ``Collector`` moves them out of the collector's reach:

- when the controller is up, and every ``settle_interval_s`` after, it collects what is
  garbage and freezes the survivors (``gc.freeze``): frozen objects are never walked again.
  Each settle walks only what was made since the last one.
- every ``full_every`` settles it unfreezes everything first, so that a long-lived object
  that became cyclic garbage since (a dropped connection, say) is freed after all.
- the youngest generation is collected every ``young_threshold`` allocations instead of
  CPython's 700, so that a burst of short-lived objects is not walked while still in use.

Reference counting is untouched: an object that is not in a cycle is freed as soon as it
is dropped, frozen or not. The thresholds are set back and everything unfrozen on exit
(``lighting.gc_tuning``, which the simulator's fleet uses too).
"""

from __future__ import annotations

import asyncio
import logging
import time
from types import TracebackType
from typing import Self

from lighting.config import MemoryConfig
from lighting.gc_tuning import GcTuning
from lighting.metrics import Counters

log = logging.getLogger(__name__)


class Collector:
    """The collector's settings while the controller runs (a context manager), and the
    loop that settles the long-lived objects (``run``)."""

    def __init__(self, config: MemoryConfig, counters: Counters) -> None:
        self.config = config
        self._counters = counters
        self._tuning = GcTuning(config.young_threshold) if config.tune else None
        self._settles = 0

    def __enter__(self) -> Self:
        if self._tuning is not None:
            self._tuning.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._tuning is not None:
            self._tuning.__exit__(exc_type, exc, tb)

    def settle(self) -> int:
        """Collect the garbage, then freeze what is left; how many objects are frozen. A
        no-op (0) unless tuning is on."""
        if self._tuning is None or not self._tuning.active:
            return 0
        started = time.perf_counter()
        full = self._settles % self.config.full_every == 0
        freed, frozen = self._tuning.settle(full=full)
        self._settles += 1
        self._counters.incr("gc.settles")
        self._counters.incr("gc.freed", freed)
        log.debug(
            "collector: %s settle freed %d objects, %d frozen, in %.1f ms",
            "a full" if full else "a young",
            freed,
            frozen,
            (time.perf_counter() - started) * 1000,
        )
        return frozen

    async def run(self) -> None:
        """Settle every ``settle_interval_s`` until cancelled."""
        while True:
            await asyncio.sleep(self.config.settle_interval_s)
            self.settle()
