"""CPython's garbage collector, tuned for a process that holds many long-lived objects: the
controller's daemon (``lighting.controller.memory``) and the simulated fleet
(``simulator.runner``), which may also share one process (the inline benchmarks, tests).

``GcTuning`` is a context manager: while at least one is entered, the youngest generation
is collected every ``young_threshold`` allocations instead of CPython's 700 (the last one
entered sets it), and ``settle`` may freeze objects (``gc.freeze``) so that collections no
longer walk them. When the last one leaves, CPython's thresholds come back and everything
is unfrozen, whatever order they leave in.
"""

from __future__ import annotations

import gc
from types import TracebackType
from typing import Self


class _Process:
    """What the tunings of the process share: CPython's thresholds from before the first
    was entered, and how many are in."""

    saved: tuple[int, int, int] = (0, 0, 0)
    users = 0


_PROCESS = _Process()


class GcTuning:
    def __init__(self, young_threshold: int) -> None:
        if young_threshold < 1:
            raise ValueError("the youngest generation's threshold must be positive")
        self.young_threshold = young_threshold
        self.active = False

    def __enter__(self) -> Self:
        if not self.active:
            if _PROCESS.users == 0:
                _PROCESS.saved = gc.get_threshold()
            _PROCESS.users += 1
            self.active = True
            _, middle, oldest = _PROCESS.saved
            gc.set_threshold(self.young_threshold, middle, oldest)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self.active:
            return
        self.active = False
        _PROCESS.users -= 1
        if _PROCESS.users == 0:
            gc.unfreeze()
            gc.set_threshold(*_PROCESS.saved)

    def settle(self, *, full: bool) -> tuple[int, int]:
        """Collect the garbage, then freeze what is left: (objects freed, objects frozen).
        ``full`` unfreezes everything first (what any tuning of the process froze), so that
        a frozen object that died in a reference cycle is freed too; it is walked once and
        frozen again. Nothing (0, 0) unless entered."""
        if not self.active:
            return 0, 0
        if full:
            gc.unfreeze()
        freed = gc.collect()
        gc.freeze()
        return freed, gc.get_freeze_count()
