"""The CoAP transport of the controller, on aiocoap: one context for everything.

The context serves the controller's resources (``/reg``, ``/report``, ``/fault``) and sends
every command, so the controller holds one socket whatever the size of the city. Errors are
translated at this boundary: payloads that break the protocol are answered 4.00 (4.13 when
too large, 4.15 for another content format) with the reason as diagnostic payload, reports
from unknown lamps 4.04, and each refusal is counted; aiocoap's failures to deliver a
command become ``DeliveryError``. Datagrams that are not CoAP at all are dropped by aiocoap,
which only logs them; a log filter counts them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Generic, Self, TypeVar

import aiocoap
import aiocoap.error
from aiocoap import resource
from aiocoap.numbers.codes import Code
from aiocoap.numbers.constants import TransportTuning

from lighting.errors import (
    DeliveryError,
    EndpointError,
    ProtocolError,
    StorageError,
    UnknownLampError,
)
from lighting.metrics import Counters
from lighting.model import Ack, Command, FaultEvent, Registration, StateReport
from lighting.protocol import (
    CONTENT_FORMAT_CBOR,
    CONTROLLER_FAULT,
    CONTROLLER_REGISTER,
    CONTROLLER_REPORT,
    LAMP_COMMAND,
    decode_ack,
    decode_fault,
    decode_registration,
    decode_report,
    encode_command,
    uri,
)
from lighting.transports.base import Target, UplinkHandler

log = logging.getLogger(__name__)

_T = TypeVar("_T")
DRAIN_TIMEOUT_S = 5.0
_CODES = {
    "4.00": Code.BAD_REQUEST,
    "4.04": Code.NOT_FOUND,
    "4.13": Code.REQUEST_ENTITY_TOO_LARGE,
    "4.15": Code.UNSUPPORTED_CONTENT_FORMAT,
}


class _UnparsableCounter(logging.Filter):
    """Counts the datagrams aiocoap drops as not CoAP (it reports them only in its log).

    Each is counted instead of logged; the first of them is logged once by us.
    """

    def __init__(self, counters: Counters) -> None:
        super().__init__()
        self._counters = counters

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith("Ignoring unparsable message"):
            return True
        self._counters.incr("coap.refused.not-coap")
        if self._counters["coap.refused.not-coap"] == 1:
            log.warning("dropping datagrams that are not CoAP (counted as coap.refused.not-coap)")
        return False


class CommandTuning(TransportTuning):
    """RFC 7252 transmission parameters for commands (ACK_TIMEOUT, MAX_RETRANSMIT).

    NB-IoT round trips take seconds: a city raises ACK_TIMEOUT above the RFC's 2 s. Every
    attempt is one CoAP exchange that ends by itself after MAX_TRANSMIT_WAIT, so no
    exchange outlives the attempt (aiocoap keeps one exchange per lamp at a time, so a
    leftover one would hold back every later command to that lamp, and could apply an old
    command late).
    """

    def __init__(self, ack_timeout_s: float, max_retransmit: int) -> None:
        self.ACK_TIMEOUT = ack_timeout_s
        self.MAX_RETRANSMIT = max_retransmit


class _Gate:
    """Counts uplinks being handled, so that closing can refuse new ones and let these finish."""

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


def _check_format(request: aiocoap.Message) -> None:
    fmt = request.opt.content_format
    if fmt is not None and int(fmt) != CONTENT_FORMAT_CBOR:
        raise ProtocolError(f"content format {int(fmt)} is not CBOR (60)", code="4.15")


def _reply(code: Code, reason: str = "") -> aiocoap.Message:
    return aiocoap.Message(code=code, payload=reason.encode())


class _Uplink(resource.Resource, Generic[_T]):
    """One controller resource: decode, hand to the controller, answer, count."""

    def __init__(
        self,
        name: str,
        *,
        decode: Callable[[bytes], _T],
        take: Callable[[_T, aiocoap.Message], Awaitable[Code]],
        counters: Counters,
        gate: _Gate,
        tuning: TransportTuning,
    ) -> None:
        super().__init__()
        self._tuning = tuning
        self._name = name
        self._decode = decode
        self._take = take
        self._counters = counters
        self._gate = gate

    async def render_post(self, request: aiocoap.Message) -> aiocoap.Message:
        if not self._gate.enter():
            return _reply(Code.SERVICE_UNAVAILABLE, "the controller is shutting down")
        try:
            response = await self._render(request)
        finally:
            self._gate.leave()
        # Storing can take longer than aiocoap's EMPTY_ACK_DELAY (0.1 s): the answer then goes
        # as a separate confirmable response, which shares the one-exchange-per-lamp queue
        # with our commands. Give it the command tuning so that it ends as quickly.
        response.transport_tuning = self._tuning
        return response

    async def _render(self, request: aiocoap.Message) -> aiocoap.Message:
        try:
            _check_format(request)
            value = self._decode(request.payload)
            code = await self._take(value, request)
        except ProtocolError as err:
            self._counters.incr(f"coap.refused.{self._name}.bad-payload")
            log.debug("refused %s from %s: %s", self._name, request.remote.hostinfo, err.reason)
            return _reply(_CODES.get(err.code, Code.BAD_REQUEST), err.reason)
        except UnknownLampError as err:
            self._counters.incr(f"coap.refused.{self._name}.unknown-lamp")
            log.debug("refused %s from %s: %s", self._name, request.remote.hostinfo, err)
            return _reply(Code.NOT_FOUND, str(err))
        except StorageError:
            self._counters.incr(f"coap.failed.{self._name}.storage")
            log.exception("could not store %s from %s", self._name, request.remote.hostinfo)
            return _reply(Code.SERVICE_UNAVAILABLE, "the controller cannot store it now")
        self._counters.incr(f"coap.accepted.{self._name}")
        return _reply(code)


def _source(request: aiocoap.Message) -> tuple[str, int]:
    sockaddr = request.remote.sockaddr
    host: str = sockaddr[0]
    if host.startswith("::ffff:"):
        host = host.removeprefix("::ffff:")
    return host, int(sockaddr[1])


class CoapTransport:
    """The controller's CoAP endpoint and command sender, as an async context manager."""

    def __init__(
        self,
        bind: tuple[str, int],
        counters: Counters,
        *,
        handler: UplinkHandler | None = None,
        ack_timeout_s: float = 2.0,
        max_retransmit: int = 4,
        receive_buffer_bytes: int = 4 * 1024 * 1024,
    ) -> None:
        self.receive_buffer_bytes = receive_buffer_bytes
        self.bind = bind
        self.counters = counters
        self.handler = handler
        self.tuning = CommandTuning(ack_timeout_s, max_retransmit)
        # The CoAP layer gives up by itself after MAX_TRANSMIT_WAIT; the deadline is a guard.
        self.timeout_s = float(self.tuning.MAX_TRANSMIT_WAIT) + 1.0
        self.receive_buffer_granted = 0
        self._context: aiocoap.Context | None = None
        self._filter = _UnparsableCounter(counters)
        self._gate = _Gate()
        self._log = logging.getLogger(f"{__name__}.aiocoap")

    def _site(self) -> resource.Site:
        handler = self.handler
        if handler is None:
            raise RuntimeError("CoapTransport needs an uplink handler before it is entered")

        async def registration(value: Registration, request: aiocoap.Message) -> Code:
            address, port = _source(request)
            new = await handler.on_registration(value, address, port)
            return Code.CREATED if new else Code.CHANGED

        async def report(value: StateReport, request: aiocoap.Message) -> Code:
            await handler.on_report(value)
            return Code.CHANGED

        async def fault(value: FaultEvent, request: aiocoap.Message) -> Code:
            await handler.on_fault(value)
            return Code.CHANGED

        site = resource.Site()
        site.add_resource(
            [".well-known", "core"], resource.WKCResource(site.get_resources_as_linkheader)
        )
        counters, gate, tuning = self.counters, self._gate, self.tuning
        site.add_resource(
            list(CONTROLLER_REGISTER),
            _Uplink(
                "registration",
                decode=decode_registration,
                take=registration,
                counters=counters,
                gate=gate,
                tuning=tuning,
            ),
        )
        site.add_resource(
            list(CONTROLLER_REPORT),
            _Uplink(
                "report",
                decode=decode_report,
                take=report,
                counters=counters,
                gate=gate,
                tuning=tuning,
            ),
        )
        site.add_resource(
            list(CONTROLLER_FAULT),
            _Uplink(
                "fault",
                decode=decode_fault,
                take=fault,
                counters=counters,
                gate=gate,
                tuning=tuning,
            ),
        )
        return site

    async def __aenter__(self) -> Self:
        # The filter only sees records that are created: keep aiocoap's warnings enabled.
        if self._log.getEffectiveLevel() > logging.WARNING:
            self._log.setLevel(logging.WARNING)
        self._log.addFilter(self._filter)
        try:
            self._context = await aiocoap.Context.create_server_context(
                self._site(), bind=self.bind, transports=["udp6"], loggername=self._log.name
            )
        except OSError as err:
            self._log.removeFilter(self._filter)
            host, port = self.bind
            raise EndpointError(f"coap://{host}:{port}", err.strerror or str(err)) from err
        self._size_receive_buffer()
        log.info("CoAP endpoint listening on %s:%d", *self.bind)
        return self

    def _size_receive_buffer(self) -> None:
        """One socket takes every lamp's answer: a city-wide change brings thousands at once,
        and the default buffer (about 200 KiB, some 250 small datagrams with their
        overhead) drops the rest, which CoAP then retransmits seconds later."""
        if self._context is None:
            return
        interface: Any = self._context.request_interfaces[0].token_interface.message_interface
        sock: socket.socket | None = interface.transport.get_extra_info("socket")
        if sock is None:
            return
        wanted = self.receive_buffer_bytes
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, wanted)
        except OSError as err:
            log.warning("the system refused a %d-byte receive buffer: %s", wanted, err)
        granted = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) // 2  # Linux doubles it
        if granted < wanted:
            log.warning(
                "receive buffer is %d bytes, not the %d asked for: raise net.core.rmem_max "
                "(sysctl) or answers to city-wide changes will be dropped and retransmitted",
                granted,
                wanted,
            )
        self.receive_buffer_granted = granted

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Refuse new uplinks (5.03), let those in hand finish, then close the socket."""
        context, self._context = self._context, None
        if context is None:
            return
        busy = await self._gate.drain(DRAIN_TIMEOUT_S)
        if busy:
            log.warning("closing with %d uplinks still being handled", busy)
        await context.shutdown()
        self._log.removeFilter(self._filter)

    async def send(self, target: Target, command: Command) -> Ack:
        """PUT ``command`` to the lamp (confirmable) and return its acknowledgement."""
        context = self._context
        if context is None:
            raise DeliveryError(target.lamp_id, "the CoAP transport is closed")
        message = aiocoap.Message(
            code=Code.PUT,
            uri=uri(target.address, target.port, LAMP_COMMAND),
            payload=encode_command(command),
            content_format=CONTENT_FORMAT_CBOR,
            transport_tuning=self.tuning,
        )
        request = context.request(message)
        try:
            async with asyncio.timeout(self.timeout_s):
                response = await request.response
        except TimeoutError as err:
            raise DeliveryError(target.lamp_id, f"no answer within {self.timeout_s:g} s") from err
        except aiocoap.error.Error as err:
            raise DeliveryError(target.lamp_id, f"{type(err).__name__}: {err}") from err
        except OSError as err:
            raise DeliveryError(target.lamp_id, f"network error: {err}") from err
        if not response.code.is_successful():
            reason = response.payload.decode(errors="replace")
            raise DeliveryError(target.lamp_id, f"refused with {response.code}: {reason}")
        try:
            ack = decode_ack(response.payload)
        except ProtocolError as err:
            raise DeliveryError(target.lamp_id, f"bad acknowledgement: {err.reason}") from err
        if ack.command_id != command.command_id:
            raise DeliveryError(
                target.lamp_id,
                f"acknowledged command {ack.command_id} instead of {command.command_id}",
            )
        return ack
