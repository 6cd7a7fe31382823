"""Simulator scale: time to bind N lamps (one aiocoap context each) and memory per lamp."""

from __future__ import annotations

import asyncio
import os
import resource
import time

from simulator import Simulator, build_fleet


def _rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


async def _run(lamps: int) -> dict[str, float]:
    specs = build_fleet(lamps, base_address="127.70.0.1", port=5699, report_period_s=86_400)
    before = _rss_mib()
    started = time.monotonic()
    # The lamps register with a controller that is not there (port 9, discard): what is
    # measured is binding and running the fleet, not the controller.
    async with Simulator(specs, ("127.0.0.1", 9)):
        bound_s = time.monotonic() - started
        after = _rss_mib()
    return {
        "lamps": lamps,
        "bind_s": round(bound_s, 2),
        "rss_mib": round(after, 1),
        "kib_per_lamp": round((after - before) * 1024 / lamps, 1),
        "fd_limit": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
    }


def measure(lamps: int) -> dict[str, float]:
    os.environ.setdefault("AIOCOAP_REUSE_PORT", "0")
    return asyncio.run(_run(lamps))
