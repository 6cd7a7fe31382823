"""A load generator of lamp uplinks in a process of its own, on the lean CoAP endpoint.

It registers ``lamps`` lamps with the controller, then sends each ``reports`` state
reports (protected with OSCORE when given the lamps' keys), keeping ``window`` confirmable
requests in flight, and says how long the reports took from the first sent to the last
acknowledged. The controller acknowledges a report only once it is stored, so this is the
rate of reports stored. Run in a separate process so that the controller's figures are its
own, not shared with a simulator on the same core.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lighting.keys import KeyStore, keys_or_plain
from lighting.metrics import Counters
from lighting.model import Registration, StateReport
from lighting.protocol import (
    CONTENT_FORMAT_CBOR,
    CONTROLLER_REGISTER,
    CONTROLLER_REPORT,
    encode_registration,
    encode_report,
)
from lighting.protocol.coapwire import (
    POST,
    Message,
    Option,
    Type,
    encode,
    encode_uint,
    path_options,
)
from lighting.protocol.oscore import OscoreError
from lighting.transports.lean import ExchangeError, LeanEndpoint

ACK_TIMEOUT_S = 2.0
MAX_RETRANSMIT = 4
MIDS = 1 << 16


def _lamp_id(index: int) -> str:
    return f"G{index:06d}"


async def _pump(
    endpoint: LeanEndpoint,
    controller: tuple[str, int],
    path: tuple[str, ...],
    payloads: Iterator[tuple[str, bytes]],
    window: int,
    *,
    keys: KeyStore | None,
) -> int:
    """Send every (lamp, payload), ``window`` at a time, protected under the lamp's
    context when there are ``keys``; how many were refused or lost."""
    failed = 0

    async def send(lamp_id: str, payload: bytes) -> int:
        if keys is None:
            response = await endpoint.request(
                controller, POST, path, payload, content_format=CONTENT_FORMAT_CBOR
            )
            return response.code
        context = keys.by_lamp[lamp_id]
        sealed = context.protect_request(POST, _options(path), payload)
        response = await endpoint.request(
            controller, sealed.code, (), sealed.payload, options=sealed.options
        )
        if response.code >= 128:
            return response.code
        return context.unprotect_response(
            sealed.request_id, response.options, response.payload
        ).code

    async def worker() -> None:
        nonlocal failed
        for lamp_id, payload in payloads:
            try:
                code = await send(lamp_id, payload)
            except (ExchangeError, OscoreError):
                failed += 1
                continue
            if code >= 128:
                failed += 1

    await asyncio.gather(*(worker() for _ in range(window)))
    return failed


class _Blast:
    """Reports as pre-encoded confirmable POSTs, ``window`` in flight, matched by message
    id, retransmitted with RFC 7252's backoff (ACK_TIMEOUT 2 s doubled, four times) and
    then counted as failed. A message id must not come back within EXCHANGE_LIFETIME
    (247 s), so every 65,536 reports go from a socket (a source port) of their own. A
    generator this lean keeps its work per report well under the controller's, so the
    figure is the controller's."""

    def __init__(self, controller: tuple[str, int], datagrams: list[bytes], window: int) -> None:
        self.controller = controller
        self.datagrams = datagrams
        self.window = window
        self.failed = 0
        self.retransmissions = 0
        self._next = 0
        self._flight: dict[int, tuple[float, int]] = {}
        """report index -> (deadline, transmissions so far)"""
        self._done = asyncio.get_running_loop().create_future()
        self._socks: list[socket.socket] = []
        for _ in range(0, len(datagrams), MIDS):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.setblocking(False)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
            sock.bind(("127.0.0.1", 0))
            self._socks.append(sock)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for number, sock in enumerate(self._socks):
            loop.add_reader(sock.fileno(), self._readable, sock, number * MIDS)
        tick = loop.call_later(ACK_TIMEOUT_S / 4, self._retransmit)
        try:
            for _ in range(min(self.window, len(self.datagrams))):
                self._send_next()
            if self.datagrams:
                await self._done
        finally:
            tick.cancel()
            for sock in self._socks:
                loop.remove_reader(sock.fileno())
                sock.close()

    def _send_next(self) -> None:
        index = self._next
        if index >= len(self.datagrams):
            return
        self._next += 1
        self._transmit(index, 0)

    def _transmit(self, index: int, count: int) -> None:
        timeout = ACK_TIMEOUT_S * (1 << count)
        self._flight[index] = (time.monotonic() + timeout, count)
        with contextlib.suppress(BlockingIOError):  # lost: retransmitted like a loss
            self._socks[index // MIDS].sendto(self.datagrams[index], self.controller)

    def _finish(self, index: int) -> None:
        del self._flight[index]
        self._send_next()
        if not self._flight and self._next >= len(self.datagrams) and not self._done.done():
            self._done.set_result(None)

    def _readable(self, sock: socket.socket, base: int) -> None:
        for _ in range(256):
            try:
                data = sock.recv(2048)
            except (BlockingIOError, InterruptedError):
                return
            if len(data) < 4 or data[0] >> 4 & 3 != 2:  # not an ACK
                continue
            index = base + (data[2] << 8 | data[3])
            if index not in self._flight:
                continue
            if data[1] >= 128:  # 4.xx or 5.xx
                self.failed += 1
            self._finish(index)

    def _retransmit(self) -> None:
        now = time.monotonic()
        for index, (deadline, count) in list(self._flight.items()):
            if deadline > now:
                continue
            if count >= MAX_RETRANSMIT:
                self.failed += 1
                self._finish(index)
            else:
                self.retransmissions += 1
                self._transmit(index, count + 1)
        if not self._done.done():
            asyncio.get_running_loop().call_later(ACK_TIMEOUT_S / 4, self._retransmit)


def _options(path: tuple[str, ...]) -> tuple[tuple[int, bytes], ...]:
    return (*path_options(path), (int(Option.CONTENT_FORMAT), encode_uint(CONTENT_FORMAT_CBOR)))


def _report_datagrams(lamps: int, reports: int, keys: KeyStore | None) -> list[bytes]:
    """Every report as its datagram, protected beforehand with ``keys`` (the generator
    then spends nothing on OSCORE while it sends: the figure stays the controller's)."""
    options = _options(tuple(CONTROLLER_REPORT))
    datagrams = []
    for index in range(lamps * reports):
        n, i = divmod(index, lamps)
        payload = encode_report(
            StateReport(
                lamp_id=_lamp_id(i),
                seq=2 + n,
                level=80,
                power_w=80.0,
                energy_wh=float(n),
                burning_s=60 * n,
            )
        )
        mid = index % MIDS
        code, outer = POST, options
        if keys is not None:
            sealed = keys.by_lamp[_lamp_id(i)].protect_request(POST, options, payload)
            code, outer, payload = sealed.code, sealed.options, sealed.payload
        datagrams.append(
            encode(Message(Type.CON, code, mid, index.to_bytes(4, "big"), outer, payload))
        )
    return datagrams


async def _generate(
    controller: tuple[str, int], lamps: int, reports: int, window: int, keys: KeyStore | None
) -> dict[str, Any]:
    endpoint = LeanEndpoint(Counters(), ack_timeout_s=ACK_TIMEOUT_S, max_retransmit=MAX_RETRANSMIT)
    endpoint.open(("127.0.0.1", 0))
    try:
        registrations = (
            (
                _lamp_id(i),
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
                ),
            )
            for i in range(lamps)
        )
        refused = await _pump(
            endpoint, controller, tuple(CONTROLLER_REGISTER), registrations, window, keys=keys
        )
        blast = _Blast(controller, _report_datagrams(lamps, reports, keys), window)
        cpu0, started = time.process_time(), time.monotonic()
        await blast.run()
        elapsed = time.monotonic() - started
        cpu = time.process_time() - cpu0
        failed, retransmissions = blast.failed, blast.retransmissions
    finally:
        await endpoint.close()
    return {
        "registrations_refused": refused,
        "reports": lamps * reports,
        "failed": failed,
        "elapsed_s": elapsed,
        "retransmissions": retransmissions,
        "generator_cpu_s": round(cpu, 2),
        "window": window,
    }


def _child(
    controller: tuple[str, int],
    lamps: int,
    reports: int,
    window: int,
    results: multiprocessing.Queue[dict[str, Any]],
    *,
    keys: Path | None,
) -> None:
    with keys_or_plain(keys, "lamps") as store:
        results.put(asyncio.run(_generate(controller, lamps, reports, window, store)))


def lamp_ids(lamps: int) -> list[str]:
    """The generator's lamps (to provision their keys)."""
    return [_lamp_id(i) for i in range(lamps)]


def start(
    controller: tuple[str, int], lamps: int, reports: int, window: int, keys: Path | None = None
) -> tuple[multiprocessing.process.BaseProcess, multiprocessing.Queue[dict[str, Any]]]:
    """Start the generator process (its lamps' keys in ``keys``, or plain CoAP); its
    result comes on the queue."""
    context = multiprocessing.get_context("spawn")
    results: multiprocessing.Queue[dict[str, Any]] = context.Queue()
    process = context.Process(
        target=_child,
        args=(controller, lamps, reports, window, results),
        kwargs={"keys": keys},
        daemon=True,
    )
    process.start()
    return process, results
