"""A load generator of lamp uplinks in a process of its own, on the lean CoAP endpoint.

It registers ``lamps`` lamps with the controller, then sends each ``reports`` state
reports, keeping ``window`` confirmable requests in flight, and says how long the reports
took from the first sent to the last acknowledged. The controller acknowledges a report only
once it is stored, so this is the rate of reports stored. Run in a separate process so that
the controller's figures are its own, not shared with a simulator on the same core.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from collections.abc import Iterator
from typing import Any

from lighting.metrics import Counters
from lighting.model import Registration, StateReport
from lighting.protocol import (
    CONTENT_FORMAT_CBOR,
    CONTROLLER_REGISTER,
    CONTROLLER_REPORT,
    encode_registration,
    encode_report,
)
from lighting.protocol.coapwire import POST
from lighting.transports.lean import ExchangeError, LeanEndpoint


def _lamp_id(index: int) -> str:
    return f"G{index:06d}"


async def _pump(
    endpoint: LeanEndpoint,
    controller: tuple[str, int],
    path: tuple[str, ...],
    payloads: Iterator[bytes],
    window: int,
) -> int:
    """Send every payload, ``window`` at a time; how many were refused or lost."""
    failed = 0

    async def worker() -> None:
        nonlocal failed
        for payload in payloads:
            try:
                response = await endpoint.request(
                    controller, POST, path, payload, content_format=CONTENT_FORMAT_CBOR
                )
            except ExchangeError:
                failed += 1
                continue
            if response.code >= 128:
                failed += 1

    await asyncio.gather(*(worker() for _ in range(window)))
    return failed


async def _generate(
    controller: tuple[str, int], lamps: int, reports: int, window: int
) -> dict[str, Any]:
    endpoint = LeanEndpoint(Counters(), ack_timeout_s=2.0, max_retransmit=4)
    loop = asyncio.get_running_loop()
    await loop.create_datagram_endpoint(lambda: endpoint, local_addr=("127.0.0.1", 0))
    try:
        registrations = (
            encode_registration(
                Registration(
                    lamp_id=_lamp_id(i),
                    seq=1,
                    zone="centre",
                    latitude=36.7 + i * 1e-5,
                    longitude=119.1,
                    wattage=100,
                    report_period_s=3600,
                )
            )
            for i in range(lamps)
        )
        refused = await _pump(
            endpoint, controller, tuple(CONTROLLER_REGISTER), registrations, window
        )
        payloads = (
            encode_report(
                StateReport(
                    lamp_id=_lamp_id(i),
                    seq=2 + n,
                    level=80,
                    power_w=80.0,
                    energy_wh=float(n),
                    burning_s=60 * n,
                )
            )
            for n in range(reports)
            for i in range(lamps)
        )
        started = time.monotonic()
        failed = await _pump(endpoint, controller, tuple(CONTROLLER_REPORT), payloads, window)
        elapsed = time.monotonic() - started
        cpu = time.process_time()
        retransmissions = endpoint.counters["coap.retransmissions"]
    finally:
        await endpoint.close()
    return {
        "registrations_refused": refused,
        "reports": lamps * reports,
        "failed": failed,
        "elapsed_s": elapsed,
        "retransmissions": retransmissions,
        "generator_cpu_s": round(cpu, 2),
    }


def _child(
    controller: tuple[str, int],
    lamps: int,
    reports: int,
    window: int,
    results: multiprocessing.Queue[dict[str, Any]],
) -> None:
    results.put(asyncio.run(_generate(controller, lamps, reports, window)))


def start(
    controller: tuple[str, int], lamps: int, reports: int, window: int
) -> tuple[multiprocessing.process.BaseProcess, multiprocessing.Queue[dict[str, Any]]]:
    """Start the generator process; its result comes on the queue."""
    context = multiprocessing.get_context("spawn")
    results: multiprocessing.Queue[dict[str, Any]] = context.Queue()
    process = context.Process(
        target=_child, args=(controller, lamps, reports, window, results), daemon=True
    )
    process.start()
    return process, results
