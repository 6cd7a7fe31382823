"""What a lamp sends up, taken the same way whichever CoAP stack carried it.

Both CoAP transports (aiocoap's in ``coap.py``, the lean one in ``lean.py``) hand a request
on one of the controller's resources to ``Uplinks.take``: it checks the content format,
decodes the payload, hands the value to the controller, and says which response code the
lamp gets, counting each outcome. When OSCORE authenticated the sender, an uplink about
another lamp is refused 4.03 (``coap.refused.<name>.impersonation``). Errors are translated
here: payloads that break the protocol get 4.00 (4.13 when too large, 4.15 for another
content format) with the reason as diagnostic payload, reports from unknown lamps 4.04, a
controller that cannot store 5.03.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from lighting.errors import ProtocolError, StorageError, UnknownLampError
from lighting.metrics import Counters
from lighting.protocol import (
    CONTENT_FORMAT_CBOR,
    CONTROLLER_FAULT,
    CONTROLLER_REGISTER,
    CONTROLLER_REPORT,
    decode_fault,
    decode_registration,
    decode_report,
)
from lighting.transports.base import UplinkHandler

log = logging.getLogger(__name__)

ROUTES: dict[tuple[str, ...], str] = {
    tuple(CONTROLLER_REGISTER): "registration",
    tuple(CONTROLLER_REPORT): "report",
    tuple(CONTROLLER_FAULT): "fault",
}
"""The controller's resources (all POST) and the name each uplink is counted under."""


@dataclass(frozen=True, slots=True)
class Answer:
    """The response a lamp gets: its code as written (``2.04``) and a diagnostic."""

    code: str
    reason: str = ""

    @property
    def klass(self) -> int:
        return int(self.code.split(".")[0])

    @property
    def detail(self) -> int:
        return int(self.code.split(".")[1])


ACCEPTED = Answer("2.04")
Burst = tuple[bytes, int | None, tuple[str, int], str | None]
"""An uplink of a burst: payload, content format, source, and the lamp OSCORE
authenticated (None: not protected)."""
_DECODERS: dict[str, Callable[[bytes], Any]] = {
    "registration": decode_registration,
    "report": decode_report,
    "fault": decode_fault,
}


class Gate:
    """Counts work in hand (uplinks being handled, commands on the air), so that closing can
    refuse new work and let what is in hand finish."""

    def __init__(self) -> None:
        self.open = True
        self._busy = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def enter(self) -> bool:
        if not self.open:
            return False
        self._busy += 1
        self._idle.clear()
        return True

    def leave(self) -> None:
        self._busy -= 1
        if self._busy == 0:
            self._idle.set()

    async def drain(self, timeout_s: float) -> int:
        """Close the gate and wait for the uplinks in hand; how many were still busy."""
        self.open = False
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self._idle.wait()
        return self._busy


def _check_format(content_format: int | None) -> None:
    if content_format is not None and content_format != CONTENT_FORMAT_CBOR:
        raise ProtocolError(f"content format {content_format} is not CBOR (60)", code="4.15")


class Uplinks:
    """The controller's three resources, behind whichever CoAP stack."""

    def __init__(self, handler: UplinkHandler, counters: Counters, gate: Gate) -> None:
        self._handler = handler
        self._counters = counters
        self._gate = gate

        async def registration(value: Any, source: tuple[str, int]) -> str:
            new = await handler.on_registration(value, *source)
            return "2.01" if new else "2.04"

        async def report(value: Any, source: tuple[str, int]) -> str:
            await handler.on_report(value)
            return "2.04"

        async def fault(value: Any, source: tuple[str, int]) -> str:
            await handler.on_fault(value)
            return "2.04"

        self._takers: dict[str, Callable[[Any, tuple[str, int]], Awaitable[str]]] = {
            "registration": registration,
            "report": report,
            "fault": fault,
        }

    def refuse(self, name: str, err: ProtocolError) -> Answer:
        """Refuse an uplink that breaks the protocol, counted under its resource."""
        self._counters.incr(f"coap.refused.{name}.bad-payload")
        return Answer(err.code, err.reason)

    def impersonation(self, name: str, sender: str, claimed: str) -> Answer:
        """Refuse an uplink whose sender (authenticated by OSCORE) speaks for another lamp."""
        self._counters.incr(f"coap.refused.{name}.impersonation")
        log.warning("lamp %s sent a %s in the name of lamp %s: refused", sender, name, claimed)
        return Answer("4.03", f"authenticated as {sender}, not {claimed}")

    async def take(
        self,
        name: str,
        payload: bytes,
        content_format: int | None,
        source: tuple[str, int],
        sender: str | None = None,
    ) -> Answer:
        """Take one uplink named ``name`` (a value of ``ROUTES``) from ``source``; from the
        lamp ``sender`` when OSCORE authenticated it, which must be the lamp it is about."""
        if not self._gate.enter():
            return Answer("5.03", "the controller is shutting down")
        try:
            return await self._take(name, payload, content_format, source, sender)
        finally:
            self._gate.leave()

    async def take_reports(self, reports: list[Burst]) -> list[Answer]:
        """Take a burst of reports (payload, content format, source, authenticated sender)
        at once: one submission to the controller, one answer each, as ``take`` gives it."""
        if not self._gate.enter():
            return [Answer("5.03", "the controller is shutting down")] * len(reports)
        try:
            return await self._take_reports(reports)
        finally:
            self._gate.leave()

    def _decode_burst(
        self, name: str, uplinks: list[Burst]
    ) -> tuple[list[Answer | None], list[Any], list[int]]:
        """Each uplink of a burst decoded (``name``: a value of ``ROUTES``): the answers of
        those refused, the values of the others and where each is in the burst."""
        answers: list[Answer | None] = [None] * len(uplinks)
        values: list[Any] = []
        places: list[int] = []
        decode = _DECODERS[name]
        for index, (payload, content_format, source, sender) in enumerate(uplinks):
            try:
                _check_format(content_format)
                value = decode(payload)
            except ProtocolError as err:
                log.debug("refused %s from %s:%d: %s", name, *source, err.reason)
                answers[index] = self.refuse(name, err)
                continue
            if sender is not None and value.lamp_id != sender:
                answers[index] = self.impersonation(name, sender, value.lamp_id)
                continue
            values.append(value)
            places.append(index)
        return answers, values, places

    async def take_registrations(self, registrations: list[Burst]) -> list[Answer]:
        """Take a burst of registrations at once: stored in one transaction, one answer
        each (2.01 for a lamp the controller did not know), as ``take`` gives it."""
        if not self._gate.enter():
            return [Answer("5.03", "the controller is shutting down")] * len(registrations)
        try:
            answers, values, places = self._decode_burst("registration", registrations)
            if values:
                items = [
                    (value, *registrations[index][2])
                    for value, index in zip(values, places, strict=True)
                ]
                try:
                    news = await self._handler.on_registrations(items)
                except StorageError:
                    self._counters.incr("coap.failed.registration.storage", len(values))
                    log.exception("could not store %d registrations", len(values))
                    for index in places:
                        answers[index] = Answer("5.03", "the controller cannot store it now")
                else:
                    for index, new in zip(places, news, strict=True):
                        answers[index] = Answer("2.01" if new else "2.04")
                    self._counters.incr("coap.accepted.registration", len(news))
            return [answer if answer is not None else ACCEPTED for answer in answers]
        finally:
            self._gate.leave()

    async def _take_reports(self, reports: list[Burst]) -> list[Answer]:
        answers, decoded, places = self._decode_burst("report", reports)
        if decoded:
            refused: Sequence[Exception | None]
            try:
                refused = await self._handler.on_reports(decoded)
            except StorageError:  # each is counted as failed below
                log.exception("could not store %d reports", len(decoded))
                refused = [StorageError("the controller cannot store it now")] * len(decoded)
            accepted = 0
            for index, why in zip(places, refused, strict=True):
                if why is None:
                    accepted += 1
                    answers[index] = ACCEPTED
                elif isinstance(why, UnknownLampError):
                    self._counters.incr("coap.refused.report.unknown-lamp")
                    answers[index] = Answer("4.04", str(why))
                else:
                    self._counters.incr("coap.failed.report.storage")
                    answers[index] = Answer("5.03", str(why))
            self._counters.incr("coap.accepted.report", accepted)
        return [answer if answer is not None else ACCEPTED for answer in answers]

    async def _take(
        self,
        name: str,
        payload: bytes,
        content_format: int | None,
        source: tuple[str, int],
        sender: str | None,
    ) -> Answer:
        shown: Any = f"{source[0]}:{source[1]}"
        try:
            _check_format(content_format)
            value = _DECODERS[name](payload)
            if sender is not None and value.lamp_id != sender:
                return self.impersonation(name, sender, value.lamp_id)
            code = await self._takers[name](value, source)
        except ProtocolError as err:
            log.debug("refused %s from %s: %s", name, shown, err.reason)
            return self.refuse(name, err)
        except UnknownLampError as err:
            self._counters.incr(f"coap.refused.{name}.unknown-lamp")
            log.debug("refused %s from %s: %s", name, shown, err)
            return Answer("4.04", str(err))
        except StorageError:
            self._counters.incr(f"coap.failed.{name}.storage")
            log.exception("could not store %s from %s", name, shown)
            return Answer("5.03", "the controller cannot store it now")
        self._counters.incr(f"coap.accepted.{name}")
        return Answer(code)
