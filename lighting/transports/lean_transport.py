"""The controller's CoAP transport on the lean endpoint (``[coap] stack = "lean"``).

The same contract as ``CoapTransport`` (aiocoap): it serves ``/reg``, ``/report`` and
``/fault`` (through ``Uplinks``, so answers and counters are the same) and
``/.well-known/core``, and sends each command as a confirmable PUT to the lamp's ``/cmd``.
One socket for the whole city; see ``lighting.transports.lean`` for why it exists.

With a key store (``[coap] security = "oscore"``), every uplink and command is an OSCORE
message (RFC 8613, ``lighting.protocol.oscore``) under the lamp's own security context:

- a request that is not protected is answered 4.01 (``coap.refused.oscore.unprotected``),
  except a GET of ``/.well-known/core``; one that does not authenticate, under a kid no
  lamp has, or replayed, 4.01 as well (``coap.refused.oscore.<why>``), unprotected since
  it cannot be protected for a sender we cannot trust;
- an authentic uplink about another lamp is refused 4.03 (``Uplinks.impersonation``);
- after a restart without a clean close, a lamp's first request gets a protected 4.01 with
  an Echo option, and is taken when repeated with it (``coap.oscore.echo``);
- a command answered 4.01 with Echo by a lamp that restarted is sent once more with it.
"""

from __future__ import annotations

import asyncio
import logging
from types import TracebackType
from typing import Self

from lighting.errors import DeliveryError, EndpointError, ProtocolError
from lighting.keys import KeyStore
from lighting.metrics import Counters
from lighting.model import Ack, Command
from lighting.protocol import (
    CONTENT_FORMAT_CBOR,
    CONTROLLER_REGISTER,
    CONTROLLER_REPORT,
    LAMP_COMMAND,
    MAX_PAYLOAD,
    encode_command,
)
from lighting.protocol.coapwire import (
    BAD_OPTION,
    CONTENT,
    GET,
    INTERNAL_SERVER_ERROR,
    METHOD_NOT_ALLOWED,
    NOT_FOUND,
    POST,
    PUT,
    UNAUTHORIZED,
    Message,
    Option,
    bad_option,
    code,
    code_of,
    code_text,
)
from lighting.protocol.oscore import (
    EchoRequiredError,
    Opened,
    OscoreError,
    RequestId,
    SecurityContext,
    echo_challenge,
    oscore_option,
)
from lighting.transports.base import Sent, Target, UplinkHandler, read_ack
from lighting.transports.lean import (
    UNDERSTOOD,
    Address,
    ExchangeError,
    LeanEndpoint,
    Reply,
    request_options,
)
from lighting.transports.sockets import size_receive_buffer
from lighting.transports.uplinks import ACCEPTED, ROUTES, Answer, Gate, Uplinks

log = logging.getLogger(__name__)

DRAIN_TIMEOUT_S = 5.0
LINK_FORMAT = 40
WELL_KNOWN_CORE = (".well-known", "core")
REPORT_PATH = tuple(CONTROLLER_REPORT)
REGISTER_PATH = tuple(CONTROLLER_REGISTER)
COMMAND_OPTIONS = request_options(LAMP_COMMAND, content_format=CONTENT_FORMAT_CBOR)
"""A command's options: its path and content format, the same for every command."""
INNER_UNDERSTOOD = UNDERSTOOD | {Option.BLOCK1, Option.ECHO}
"""The critical options an OSCORE request may carry inside (the outer ones are checked by
the endpoint)."""


def link_format(paths: list[tuple[str, ...]]) -> bytes:
    """``/.well-known/core`` (RFC 6690) for ``paths``."""
    return ",".join(f"</{'/'.join(path)}>" for path in paths).encode()


def _sealed(
    context: SecurityContext,
    request_id: RequestId,
    status: int,
    options: tuple[tuple[int, bytes], ...],
    payload: bytes = b"",
) -> Reply:
    """A response protected under ``context`` for the request ``request_id``."""
    sealed = context.protect_response(request_id, status, options, payload)
    return Reply(sealed.code, sealed.payload, options=sealed.options)


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
        keys: KeyStore | None = None,
    ) -> None:
        self.bind = bind
        self.keys = keys
        """The lamps' security contexts (OSCORE); None: plain CoAP (``insecure``)."""
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
            serve_batch=self._serve_batch,
            ack_timeout_s=self.ack_timeout_s,
            max_retransmit=self.max_retransmit,
            understood=UNDERSTOOD
            | ({Option.BLOCK1, Option.OSCORE} if self.keys is not None else {Option.BLOCK1}),
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

    async def _serve(self, request: Message, source: Address, sender: str | None = None) -> Reply:
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
            answer = await self._uplinks.take(
                name, request.payload, request.content_format, source, sender
            )
        return _reply(answer)

    async def _serve_batch(self, batch: list[tuple[Message, Address]]) -> list[Reply]:
        if self.keys is None:
            return await self._serve_plain([(request, source, None) for request, source in batch])
        return await self._serve_protected(self.keys, batch)

    async def _serve_protected(
        self, keys: KeyStore, batch: list[tuple[Message, Address]]
    ) -> list[Reply]:
        """Open each protected request, serve what opened as one burst, protect the replies."""
        replies: list[Reply] = [Reply(INTERNAL_SERVER_ERROR)] * len(batch)
        opened: list[tuple[Message, Address, str | None]] = []
        places: list[tuple[int, SecurityContext | None, RequestId | None]] = []
        for index, (request, source) in enumerate(batch):
            if (
                request.code == GET
                and oscore_option(request.options) is None
                and request.uri_path == WELL_KNOWN_CORE
            ):
                opened.append((request, source, None))  # discovery stays open
                places.append((index, None, None))
                continue
            result = self._open(keys, request, source)
            if isinstance(result, Reply):
                replies[index] = result
                continue
            message, context, request_id, lamp_id = result
            opened.append((message, source, lamp_id))
            places.append((index, context, request_id))
        answers = await self._serve_plain(opened)
        for (index, sealer, opened_id), reply in zip(places, answers, strict=True):
            if sealer is None or opened_id is None:
                replies[index] = reply
                continue
            replies[index] = _sealed(
                sealer, opened_id, reply.code, reply.all_options, reply.payload
            )
        return replies

    def _open(
        self, keys: KeyStore, request: Message, source: Address
    ) -> Reply | tuple[Message, SecurityContext, RequestId, str]:
        """The request as its lamp wrote it, or the reply that refuses it."""
        try:
            kid, context = keys.context_for(request.options)
        except OscoreError as err:
            return self._refused(err, source)
        try:
            inner = context.unprotect_request(request.options, request.payload)
        except EchoRequiredError as err:
            self.counters.incr("coap.oscore.echo")
            try:  # the challenge takes a sequence number of ours
                return _sealed(context, err.request_id, UNAUTHORIZED, ((Option.ECHO, err.echo),))
            except OscoreError as exhausted:
                return self._refused(exhausted, source)
        except OscoreError as err:
            return self._refused(err, source)
        message = inner.within(request)
        bad = bad_option(message, INNER_UNDERSTOOD)
        if bad is not None:
            self.counters.incr("coap.refused.bad-option")
            return _sealed(context, inner.request_id, BAD_OPTION, (), f"option {bad}".encode())
        return message, context, inner.request_id, keys.lamp_of[kid]

    def _refused(self, err: OscoreError, source: Address) -> Reply:
        """Not protected, or not for us: an unprotected answer (none can be trusted)."""
        self.counters.incr(f"coap.refused.oscore.{err.why}")
        log.debug("refused a request from %s:%d: %s", *source, err.reason)
        return Reply(code_of(err.code), err.reason.encode())

    async def _serve_plain(self, batch: list[tuple[Message, Address, str | None]]) -> list[Reply]:
        """A burst of requests: the reports in it taken as one submission (stored in one
        batch, answered once committed), the registrations as another (one transaction),
        anything else served on its own, all at once. The third of each is the lamp OSCORE
        authenticated (None: not protected)."""
        uplinks = self._uplinks
        bursts: dict[tuple[str, ...], list[int]] = {REPORT_PATH: [], REGISTER_PATH: []}
        others: list[int] = []
        for index, (request, _, _) in enumerate(batch):
            burst = bursts.get(request.uri_path) if request.code == POST else None
            if (
                uplinks is not None
                and burst is not None
                and not request.option_values(Option.BLOCK1)
            ):
                burst.append(index)
            else:
                others.append(index)
        replies: list[Reply] = [Reply(INTERNAL_SERVER_ERROR)] * len(batch)

        async def take(path: tuple[str, ...], places: list[int]) -> None:
            if uplinks is None or not places:
                return
            items = [
                (batch[i][0].payload, batch[i][0].content_format, batch[i][1], batch[i][2])
                for i in places
            ]
            if path == REPORT_PATH:
                answers = await uplinks.take_reports(items)
            else:
                answers = await uplinks.take_registrations(items)
            for index, answer in zip(places, answers, strict=True):
                replies[index] = _reply(answer)

        async def serve(index: int) -> None:
            request, source, sender = batch[index]
            replies[index] = await self._serve(request, source, sender)

        await asyncio.gather(
            *(take(path, places) for path, places in bursts.items()),
            *(serve(index) for index in others),
        )
        return replies

    def start(self, target: Target, command: Command, done: Sent) -> None:
        """PUT ``command`` to the lamp (confirmable); ``done`` gets its acknowledgement or
        the ``DeliveryError``, later. ``DeliveryError`` here if it cannot be sent at all."""
        endpoint = self._endpoint
        if endpoint is None:
            raise DeliveryError(target.lamp_id, "the CoAP transport is closed")
        payload = encode_command(command)
        if self.keys is not None:
            self._start_protected(target, command, done, payload=payload)
            return

        def answered(response: Message | None, error: ExchangeError | None) -> None:
            result: Ack | DeliveryError
            if response is None:
                result = DeliveryError(target.lamp_id, str(error))
            else:
                try:
                    result = _ack(target, command, response.code, response.payload)
                except DeliveryError as err:
                    result = err
            done(result)  # once, outside the try: what it raises is not the lamp's answer

        try:
            endpoint.start((target.address, target.port), PUT, COMMAND_OPTIONS, payload, answered)
        except ExchangeError as err:
            raise DeliveryError(target.lamp_id, str(err)) from err

    def _start_protected(
        self,
        target: Target,
        command: Command,
        done: Sent,
        *,
        payload: bytes,
        echo: bytes | None = None,
    ) -> None:
        """The command as an OSCORE request under the lamp's context; once more with Echo
        if the lamp asks for it (it restarted and lost its replay window)."""
        endpoint, keys = self._endpoint, self.keys
        if endpoint is None or keys is None:
            raise DeliveryError(target.lamp_id, "the CoAP transport is closed")
        lamp_id = target.lamp_id
        context = keys.by_lamp.get(lamp_id)
        if context is None:
            raise DeliveryError(lamp_id, "no OSCORE key for this lamp: `lighting keys provision`")
        options = COMMAND_OPTIONS if echo is None else (*COMMAND_OPTIONS, (Option.ECHO, echo))
        try:
            sealed = context.protect_request(PUT, options, payload)
        except OscoreError as err:
            raise DeliveryError(lamp_id, f"cannot protect the command: {err.reason}") from err

        def answered(response: Message | None, error: ExchangeError | None) -> None:
            if response is None:
                done(DeliveryError(lamp_id, str(error)))
                return
            result: Ack | DeliveryError
            try:
                inner = self._opened_response(context, sealed.request_id, lamp_id, response)
                challenge = echo_challenge(inner)
                if challenge is not None and echo is None:
                    self.counters.incr("coap.oscore.echo-answered")
                    self._start_protected(target, command, done, payload=payload, echo=challenge)
                    return
                result = _ack(target, command, inner.code, inner.payload)
            except DeliveryError as err:
                result = err
            done(result)  # once, outside the try

        try:
            endpoint.start(
                (target.address, target.port), sealed.code, sealed.options, sealed.payload, answered
            )
        except ExchangeError as err:
            raise DeliveryError(lamp_id, str(err)) from err

    def _opened_response(
        self, context: SecurityContext, request_id: RequestId, lamp_id: str, response: Message
    ) -> Opened:
        """The lamp's response as it wrote it; ``DeliveryError`` if it is not protected (a
        refusal) or does not authenticate."""
        if oscore_option(response.options) is None:
            self.counters.incr("coap.oscore.refused-by-lamp")
            reason = response.payload.decode(errors="replace")
            raise DeliveryError(
                lamp_id, f"refused with {code_text(response.code)} (not protected): {reason}"
            )
        try:
            return context.unprotect_response(request_id, response.options, response.payload)
        except OscoreError as err:
            self.counters.incr(f"coap.refused.oscore.response-{err.why}")
            raise DeliveryError(lamp_id, f"a response that {err.reason}") from err


def _ack(target: Target, command: Command, status: int, payload: bytes) -> Ack:
    """The lamp's acknowledgement in a response (``DeliveryError`` if it is none)."""
    success = 64 <= status < 128
    return read_ack(target, command, success, "" if success else code_text(status), payload)


_ACCEPTED = Reply(code(2, 4))


def _reply(answer: Answer) -> Reply:
    """The reply carrying ``answer``; the one for nearly every uplink is made once."""
    if answer is ACCEPTED:
        return _ACCEPTED
    return Reply(code_of(answer.code), answer.reason.encode())
