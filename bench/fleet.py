"""Simulator scale: start-up time and memory per lamp of a city of N lamps.

A city of the packaged default profile, scaled to N lamps, listening on its own port
(``127.70.0.1`` upwards, port 5699), registers with a stub controller: a separate process
that answers every confirmable POST with a piggybacked 2.01, as fast as one Python loop can
(so what is measured is the fleet, not a controller). Start-up is from the first socket to
the last lamp registered; memory is the RSS of the simulator's process once every lamp is
registered, against the RSS before the city was built.

``python -m bench.fleet 10000 100000`` prints a table; ``measure(N)`` returns one row.
Radio latency and loss are off (``--radio`` turns the profile's coverage classes on), the
planned faults are off, and the report period is a day, so nothing but start-up is timed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

from simulator import Simulator, build_city, default_profile
from simulator.runner import EndpointMode

LAMP_BASE = "127.70.0.1"
LAMP_PORT = 5699
_STUB = r"""
import socket, sys
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
sock.bind(("127.0.0.1", 0))
print(sock.getsockname()[1], flush=True)
answered = 0
while True:
    data, remote = sock.recvfrom(2048)
    if len(data) < 4 or data[0] >> 6 != 1 or (data[0] >> 4) & 3 != 0 or data[1] == 0:
        continue
    tkl = data[0] & 0x0F
    # ACK, 2.01 Created, same message id and token.
    sock.sendto(bytes((0x60 | tkl, 0x41)) + data[2:4 + tkl], remote)
"""


def _rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


@contextlib.contextmanager
def stub_controller() -> Iterator[tuple[str, int]]:
    """A process answering every confirmable POST on 127.0.0.1 (stopped on exit)."""
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", _STUB], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        yield ("127.0.0.1", port)
    finally:
        process.terminate()
        process.wait(timeout=10)


async def _run(
    lamps: int, controller: tuple[str, int], mode: EndpointMode, radio: bool
) -> dict[str, Any]:
    before = _rss_mib()
    profile = default_profile()
    city_table = profile.city.model_copy(
        update={"base_address": LAMP_BASE, "port": LAMP_PORT, "report_period_s": 86_400}
    )
    profile = profile.model_copy(update={"city": city_table})
    started = time.monotonic()
    city = build_city(profile, lamps=lamps)
    built_s = time.monotonic() - started
    if not radio:
        city = dataclasses.replace(
            city, cells=tuple(dataclasses.replace(c, latency_s=0.0, loss=0.0) for c in city.cells)
        )
    cpu = time.process_time()
    started = time.monotonic()
    async with Simulator.for_city(city, controller, endpoint=mode, run_faults=False) as sim:
        bound_s = time.monotonic() - started
        async with asyncio.timeout(600):
            await sim.wait_registered()
        registered_s = time.monotonic() - started
        cpu_s = time.process_time() - cpu
        after = _rss_mib()
        failed = sum(node.uplinks_failed for node in sim.nodes.values())
        fds = len(os.listdir("/proc/self/fd"))
    return {
        "lamps": lamps,
        "mode": sim.mode,
        "radio": radio,
        "build_s": round(built_s, 2),
        "bind_s": round(bound_s, 2),
        "registered_s": round(registered_s, 2),
        "cpu_s": round(cpu_s, 1),
        "uplinks_failed": failed,
        "rss_mib": round(after, 1),
        "kib_per_lamp": round((after - before) * 1024 / lamps, 2),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "open_fds": fds,
    }


def measure(lamps: int, mode: EndpointMode = "shared", *, radio: bool = False) -> dict[str, Any]:
    """Start a city of ``lamps`` and wait until every lamp has registered."""
    with stub_controller() as controller:
        return asyncio.run(_run(lamps, controller, mode, radio))


def _free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind(("0.0.0.0", port))  # noqa: S104 - a probe, closed at once
        except OSError:
            return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.fleet", description=__doc__)
    parser.add_argument("lamps", type=int, nargs="+", help="fleet sizes")
    parser.add_argument("--mode", choices=["shared", "per-lamp"], default="shared")
    parser.add_argument("--radio", action="store_true", help="the profile's latency and loss")
    args = parser.parse_args()
    if not _free(LAMP_PORT):
        sys.exit(f"port {LAMP_PORT} is taken: the fleet needs it to itself")
    header = None
    for lamps in args.lamps:
        # Each size in a process of its own, so that memory figures do not carry over.
        row = (
            subprocess.run(  # noqa: S603 - our own interpreter and module
                [
                    sys.executable,
                    "-c",
                    "import json; from bench.fleet import measure; "
                    f"print(json.dumps(measure({lamps}, {args.mode!r}, radio={args.radio})))",
                ],
                check=True,
                capture_output=True,
                text=True,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        values = json.loads(row)
        if header is None:
            header = list(values)
            print(" | ".join(header))
        print(" | ".join(str(values[key]) for key in header))


if __name__ == "__main__":
    main()
