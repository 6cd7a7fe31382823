"""The controller's CoAP transport on the lean endpoint (``[coap] stack = "lean"``).

The same contract as ``CoapTransport`` (aiocoap): it serves ``/reg``, ``/report`` and
``/fault`` (through ``Uplinks``, so answers and counters are the same) and
``/.well-known/core``, and sends each command as a confirmable PUT to the lamp's ``/cmd``.
One socket for the whole city; see ``lighting.transports.lean`` for why it exists.
"""

from __future__ import annotations

import asyncio
import logging
from types import TracebackType
from typing import Self

from lighting.errors import DeliveryError, EndpointError, ProtocolError
from lighting.metrics import Counters
from lighting.model import Ack, Command
from lighting.protocol import (
    CONTENT_FORMAT_CBOR,
    CONTROLLER_REPORT,
    LAMP_COMMAND,
    MAX_PAYLOAD,
    encode_command,
)
from lighting.protocol.coapwire import (
    CONTENT,
    GET,
    INTERNAL_SERVER_ERROR,
    METHOD_NOT_ALLOWED,
    NOT_FOUND,
    POST,
    PUT,
    Message,
    Option,
    code,
    code_text,
)
from lighting.transports.base import Target, UplinkHandler, read_ack
from lighting.transports.lean import UNDERSTOOD, Address, ExchangeError, LeanEndpoint, Reply
from lighting.transports.sockets import size_receive_buffer
from lighting.transports.uplinks import ROUTES, Gate, Uplinks

log = logging.getLogger(__name__)

DRAIN_TIMEOUT_S = 5.0
LINK_FORMAT = 40
WELL_KNOWN_CORE = (".well-known", "core")
REPORT_PATH = tuple(CONTROLLER_REPORT)


def link_format(paths: list[tuple[str, ...]]) -> bytes:
    """``/.well-known/core`` (RFC 6690) for ``paths``."""
    return ",".join(f"</{'/'.join(path)}>" for path in paths).encode()


class LeanCoapTransport:
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
        self.bind = bind
        self.counters = counters
        self.handler = handler
        self.ack_timeout_s = ack_timeout_s
        self.max_retransmit = max_retransmit
        self.receive_buffer_bytes = receive_buffer_bytes
        self.receive_buffer_granted = 0
        self._endpoint: LeanEndpoint | None = None
        self._uplinks: Uplinks | None = None
        self._gate = Gate()
        self._links = link_format([WELL_KNOWN_CORE, *ROUTES])

    async def __aenter__(self) -> Self:
        if self.handler is None:
            raise RuntimeError("LeanCoapTransport needs an uplink handler before it is entered")
        self._uplinks = Uplinks(self.handler, self.counters, self._gate)
        endpoint = LeanEndpoint(
            self.counters,
            serve=self._serve,
            serve_batch=self._serve_batch,
            ack_timeout_s=self.ack_timeout_s,
            max_retransmit=self.max_retransmit,
            understood=UNDERSTOOD | {Option.BLOCK1},
        )
        try:
            endpoint.open(self.bind)
        except OSError as err:
            host, port = self.bind
            raise EndpointError(f"coap://{host}:{port}", err.strerror or str(err)) from err
        self._endpoint = endpoint
        sock = endpoint.socket
        if sock is not None:
            self.receive_buffer_granted = size_receive_buffer(sock, self.receive_buffer_bytes)
        log.info("CoAP endpoint (lean) listening on %s:%d", *self.bind)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Refuse new uplinks (5.03), let those in hand finish, then close the socket."""
        endpoint, self._endpoint = self._endpoint, None
        if endpoint is None:
            return
        busy = await self._gate.drain(DRAIN_TIMEOUT_S)
        if busy:
            log.warning("closing with %d uplinks still being handled", busy)
        await endpoint.close()

    async def _serve(self, request: Message, source: Address) -> Reply:
        path = request.uri_path
        if path == WELL_KNOWN_CORE:
            if request.code != GET:
                return Reply(METHOD_NOT_ALLOWED)
            return Reply(CONTENT, self._links, LINK_FORMAT)
        name = ROUTES.get(path)
        if name is None or self._uplinks is None:
            self.counters.incr("coap.refused.no-resource")
            return Reply(NOT_FOUND, b"no such resource")
        if request.code != POST:
            return Reply(METHOD_NOT_ALLOWED, b"POST only")
        if request.option_values(Option.BLOCK1):
            # Block-wise transfer (RFC 7959) carries payloads over one datagram: too large.
            too_large = f"a block-wise payload exceeds {MAX_PAYLOAD} bytes"
            answer = self._uplinks.refuse(name, ProtocolError(too_large, code="4.13"))
        else:
            answer = await self._uplinks.take(name, request.payload, request.content_format, source)
        return Reply(code(answer.klass, answer.detail), answer.reason.encode())

    async def _serve_batch(self, batch: list[tuple[Message, Address]]) -> list[Reply]:
        """A burst of requests: the reports in it taken as one submission (stored in one
        batch, answered once committed), anything else served on its own, all at once."""
        uplinks = self._uplinks
        reports: list[int] = []
        others: list[int] = []
        for index, (request, _) in enumerate(batch):
            if (
                uplinks is not None
                and request.code == POST
                and request.uri_path == REPORT_PATH
                and not request.option_values(Option.BLOCK1)
            ):
                reports.append(index)
            else:
                others.append(index)
        replies: list[Reply] = [Reply(INTERNAL_SERVER_ERROR)] * len(batch)

        async def take_reports() -> None:
            if uplinks is None or not reports:
                return
            answers = await uplinks.take_reports(
                [(batch[i][0].payload, batch[i][0].content_format, batch[i][1]) for i in reports]
            )
            for index, answer in zip(reports, answers, strict=True):
                replies[index] = Reply(code(answer.klass, answer.detail), answer.reason.encode())

        async def serve(index: int) -> None:
            request, source = batch[index]
            replies[index] = await self._serve(request, source)

        await asyncio.gather(take_reports(), *(serve(index) for index in others))
        return replies

    async def send(self, target: Target, command: Command) -> Ack:
        """PUT ``command`` to the lamp (confirmable) and return its acknowledgement."""
        endpoint = self._endpoint
        if endpoint is None:
            raise DeliveryError(target.lamp_id, "the CoAP transport is closed")
        try:
            response = await endpoint.request(
                (target.address, target.port),
                PUT,
                LAMP_COMMAND,
                encode_command(command),
                content_format=CONTENT_FORMAT_CBOR,
            )
        except ExchangeError as err:
            raise DeliveryError(target.lamp_id, str(err)) from err
        except OSError as err:
            raise DeliveryError(target.lamp_id, f"network error: {err}") from err
        return read_ack(
            target,
            command,
            64 <= response.code < 128,
            code_text(response.code),
            response.payload,
        )
