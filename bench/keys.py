"""OSCORE's costs: key files for a city, and the price of protecting one message.

``python -m bench.keys 100000`` provisions keys for that many lamps in a temporary
directory, opens the controller's and the lamps' key stores, writes the sequence state
once (what a reservation of a chunk costs), times protecting a command and opening a
report, and closes cleanly (which writes every replay window).
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

from lighting.keys import KeyStore, provision
from lighting.protocol import coapwire as coap
from lighting.protocol.coapwire import Option

MESSAGES = 4000
"""Fewer than a chunk (4,096): no reservation inside the timed loops."""
COMMAND = b"\xa3\x00\x01\x01\x18\x28\x02\x00"
REPORT = bytes(40)


def _timed(start: float) -> float:
    return round(time.perf_counter() - start, 3)


def measure(lamps: int = 10_000) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as workdir:
        where = Path(workdir) / "keys"
        ids = [f"L{number:06d}" for number in range(lamps)]
        row: dict[str, Any] = {"lamps": lamps}
        start = time.perf_counter()
        provision(where, ids)
        row["provision_s"] = _timed(start)
        controller, fleet = KeyStore(where, "controller"), KeyStore(where, "lamps")
        start = time.perf_counter()
        controller.open()
        row["open_s"] = _timed(start)
        fleet.open()
        start = time.perf_counter()
        controller._write(clean=False)  # what each reservation of a chunk writes
        row["state_write_s"] = _timed(start)
        command = controller.by_lamp[ids[0]]
        options = ((Option.URI_PATH, b"cmd"), (Option.CONTENT_FORMAT, b"\x3c"))
        start = time.perf_counter()
        for _ in range(MESSAGES):
            command.protect_request(coap.PUT, options, COMMAND)
        row["protect_us"] = round(_timed(start) / MESSAGES * 1e6, 1)
        lamp = fleet.by_lamp[ids[1]]
        sealed = [
            lamp.protect_request(coap.POST, ((Option.URI_PATH, b"report"),), REPORT)
            for _ in range(MESSAGES)
        ]
        receiver = controller.by_lamp[ids[1]]
        start = time.perf_counter()
        for message in sealed:
            receiver.unprotect_request(message.options, message.payload)
        row["unprotect_us"] = round(_timed(start) / MESSAGES * 1e6, 1)
        start = time.perf_counter()
        controller.close()
        row["close_s"] = _timed(start)
        fleet.close()
        row["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        return row


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.keys", description=__doc__)
    parser.add_argument("lamps", type=int, nargs="?", default=10_000)
    print(json.dumps(measure(parser.parse_args().lamps)))


if __name__ == "__main__":
    main()
