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
import logging
import socket
from types import TracebackType
from typing import Any, Self, TypeVar

import aiocoap
import aiocoap.error
from aiocoap import resource
from aiocoap.numbers.codes import Code
from aiocoap.numbers.constants import TransportTuning

from lighting.errors import (
    DeliveryError,
    EndpointError,
)
from lighting.metrics import Counters
from lighting.model import Ack, Command
from lighting.protocol import (
    CONTENT_FORMAT_CBOR,
    LAMP_COMMAND,
    encode_command,
    uri,
)
from lighting.transports.base import Sent, Target, UplinkHandler, read_ack
from lighting.transports.sockets import size_receive_buffer
from lighting.transports.uplinks import ROUTES, Gate, Uplinks

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


class _UndecodableCounter:
    """Counts the datagrams whose text options aiocoap cannot decode.

    aiocoap 0.4.17 decodes a Uri-Path or Uri-Query that is not UTF-8 strictly and lets the
    UnicodeDecodeError escape its socket's reader callback (chrysn/aiocoap issues 176 and
    417): asyncio would log it as an ERROR ("Exception in callback"), the datagram is lost
    and the socket goes on reading. While the transport is open, this loop exception handler
    counts such a datagram as ``coap.refused.not-coap`` instead; anything else goes to the
    handler that was there before.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, counters: Counters) -> None:
        self._loop = loop
        self._counters = counters
        self._previous = loop.get_exception_handler()

    def install(self) -> None:
        self._loop.set_exception_handler(self)

    def remove(self) -> None:
        if self._loop.get_exception_handler() is self:
            self._loop.set_exception_handler(self._previous)

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        error = context.get("exception")
        if isinstance(error, UnicodeDecodeError) and _raised_in_aiocoap(error):
            self._counters.incr("coap.refused.not-coap")
            if self._counters["coap.refused.not-coap"] == 1:
                log.warning("dropping a datagram with an option that is not UTF-8: %s", error)
            return
        if self._previous is not None:
            self._previous(loop, context)
        else:
            loop.default_exception_handler(context)


def _raised_in_aiocoap(error: BaseException) -> bool:
    trace = error.__traceback__
    while trace is not None:
        if trace.tb_frame.f_globals.get("__name__", "").startswith("aiocoap."):
            return True
        trace = trace.tb_next
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


class _Uplink(resource.Resource):
    """One controller resource on aiocoap: ``Uplinks.take`` does the work."""

    def __init__(self, name: str, uplinks: Uplinks, tuning: TransportTuning) -> None:
        super().__init__()
        self._name = name
        self._uplinks = uplinks
        self._tuning = tuning

    async def render_post(self, request: aiocoap.Message) -> aiocoap.Message:
        fmt = request.opt.content_format
        answer = await self._uplinks.take(
            self._name,
            request.payload,
            None if fmt is None else int(fmt),
            _source(request),
        )
        response = aiocoap.Message(
            code=Code(answer.klass << 5 | answer.detail), payload=answer.reason.encode()
        )
        # Storing can take longer than aiocoap's EMPTY_ACK_DELAY (0.1 s): the answer then goes
        # as a separate confirmable response, which shares the one-exchange-per-lamp queue
        # with our commands. Give it the command tuning so that it ends as quickly.
        response.transport_tuning = self._tuning
        return response


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
        self._guard: _UndecodableCounter | None = None
        self._gate = Gate()
        self._sending: set[asyncio.Task[Ack]] = set()
        self._log = logging.getLogger(f"{__name__}.aiocoap")

    def _site(self) -> resource.Site:
        if self.handler is None:
            raise RuntimeError("CoapTransport needs an uplink handler before it is entered")
        uplinks = Uplinks(self.handler, self.counters, self._gate)
        site = resource.Site()
        site.add_resource(
            [".well-known", "core"], resource.WKCResource(site.get_resources_as_linkheader)
        )
        for path, name in ROUTES.items():
            site.add_resource(list(path), _Uplink(name, uplinks, self.tuning))
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
        self._guard = _UndecodableCounter(asyncio.get_running_loop(), self.counters)
        self._guard.install()
        log.info("CoAP endpoint listening on %s:%d", *self.bind)
        return self

    def _size_receive_buffer(self) -> None:
        if self._context is None:
            return
        interface: Any = self._context.request_interfaces[0].token_interface.message_interface
        sock: socket.socket | None = interface.transport.get_extra_info("socket")
        if sock is not None:
            self.receive_buffer_granted = size_receive_buffer(sock, self.receive_buffer_bytes)

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
        for task in set(self._sending):
            task.cancel()
        await context.shutdown()
        self._log.removeFilter(self._filter)
        if self._guard is not None:
            self._guard.remove()
            self._guard = None

    def start(self, target: Target, command: Command, done: Sent) -> None:
        """PUT ``command`` to the lamp (confirmable); ``done`` gets its acknowledgement or
        the ``DeliveryError``, later. aiocoap's requests are coroutines: a task each."""
        if self._context is None:
            raise DeliveryError(target.lamp_id, "the CoAP transport is closed")
        task = asyncio.get_running_loop().create_task(self._send(target, command))
        self._sending.add(task)

        def finished(task: asyncio.Task[Ack]) -> None:
            self._sending.discard(task)
            if task.cancelled():
                done(DeliveryError(target.lamp_id, "the CoAP transport is closed"))
                return
            error = task.exception()
            if error is None:
                done(task.result())
            elif isinstance(error, DeliveryError):
                done(error)
            else:
                done(DeliveryError(target.lamp_id, f"{type(error).__name__}: {error}"))

        task.add_done_callback(finished)

    async def _send(self, target: Target, command: Command) -> Ack:
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
        return read_ack(
            target,
            command,
            response.code.is_successful(),
            str(response.code),
            response.payload,
        )
