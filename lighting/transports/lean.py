"""The lean CoAP endpoint: RFC 7252 over one UDP socket, for the controller's hot paths.

Why it exists (docs/performance.md has the measurements): aiocoap, the reference
implementation, spends most of a round trip in its generic machinery (pipes, token and
message managers, per-remote state), which capped the controller at a few hundred commands
or reports a second on this machine. This endpoint does only what the controller's traffic
needs, each part of RFC 7252 that matters for it:

- confirmable requests retransmitted with exponential backoff from a randomised
  ACK_TIMEOUT until MAX_RETRANSMIT (section 4.2), then given up;
- piggybacked and separate responses matched by message id and token (section 5.2), a
  separate confirmable response acknowledged, an unknown one reset;
- message ids from a per-endpoint counter, tokens unique per endpoint (section 5.3.1);
- duplicate requests detected per (source, message id) and answered with the response
  already sent, or ignored while it is being prepared (section 4.5);
- unknown critical options answered 4.02 (section 5.4.1); a confirmable message that is
  not CoAP past its header reset, anything else that is not CoAP dropped and counted;
- empty confirmable messages (pings) reset (section 4.3).

It interoperates with aiocoap (tests/transports/test_lean.py, both ways) and with libcoap
(tests/transports/test_libcoap.py: its client posts to the controller and reads and
commands a simulated lamp; this endpoint's requests go to its server, separate response
included). A request of ours (``start``) is a callback, not a task or a future, and its
retransmissions and expiry are entries in one heap served by one loop timer: a city-wide
change holds thousands of exchanges at once, and each costs a send and a heap entry.
``request`` awaits one for callers that want a coroutine.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import random
import socket
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from lighting.errors import ProtocolError
from lighting.metrics import Counters
from lighting.protocol.coapwire import (
    BAD_OPTION,
    INTERNAL_SERVER_ERROR,
    Message,
    Option,
    Type,
    bad_option,
    decode,
    encode,
    encode_uint,
    header,
    path_options,
)

log = logging.getLogger(__name__)

Address = tuple[str, int]

UNDERSTOOD = frozenset(
    {
        Option.URI_HOST,
        Option.URI_PORT,
        Option.URI_PATH,
        Option.URI_QUERY,
        Option.CONTENT_FORMAT,
        Option.ACCEPT,
    }
)
"""The critical options a request may carry here; any other is answered 4.02."""


@dataclass(frozen=True, slots=True)
class Reply:
    """What a served request is answered with."""

    code: int
    payload: bytes = b""
    content_format: int | None = None
    options: tuple[tuple[int, bytes], ...] = ()
    """Further options of the response (an OSCORE-protected one carries its OSCORE option)."""

    @property
    def all_options(self) -> tuple[tuple[int, bytes], ...]:
        """``options`` and the Content-Format option, if any."""
        if self.content_format is None:
            return self.options
        return (*self.options, (Option.CONTENT_FORMAT, encode_uint(self.content_format)))


def request_options(
    path: Sequence[str],
    options: Sequence[tuple[int, bytes]] = (),
    content_format: int | None = None,
) -> tuple[tuple[int, bytes], ...]:
    """A request's options: its path, ``options``, and its content format if any."""
    all_options = (*path_options(path), *options)
    if content_format is not None:
        all_options += ((Option.CONTENT_FORMAT, encode_uint(content_format)),)
    return all_options


Serve = Callable[[Message, Address], Awaitable[Reply]]
ServeBatch = Callable[[list[tuple[Message, Address]]], Awaitable[list[Reply]]]
"""Serves a burst of requests at once: one reply per request, in order."""

BURST = 256
"""Datagrams read off the socket per readiness: one loop iteration takes them all."""
MAX_DATAGRAM = 2048
_COMPACT_AT = 4096
"""Timer entries over which ended exchanges' entries are dropped from the heap."""
_MIDS = 1 << 16
"""Message ids: at most this many of our requests in flight at once."""
MAX_ECHOES = 2
"""Copies of one response sent for duplicates that came while it was being prepared: a
flood of copies of one request must not become a flood of answers."""


class ExchangeError(Exception):
    """A request got no response (``timeout``) or was reset by the peer."""

    def __init__(self, why: str, *, timeout: bool = False) -> None:
        super().__init__(why)
        self.timeout = timeout


Done = Callable[[Message | None, ExchangeError | None], None]
"""Called once when an exchange ends: with its response, or with why it failed."""


def _ended(response: Message | None, error: ExchangeError | None) -> None:
    """The ``done`` of an exchange that has ended."""


class Exchange:
    """One confirmable request of ours, until its response (``LeanEndpoint.start``)."""

    __slots__ = (
        "acked",
        "address",
        "datagram",
        "deadline",
        "done",
        "ended",
        "expires",
        "mid",
        "timeout",
        "token",
        "transmissions",
    )

    def __init__(self, address: Address, mid: int, token: bytes, done: Done) -> None:
        self.address = address
        self.mid = mid
        self.token = token
        self.done = done
        self.datagram = b""
        self.timeout = 0.0
        """The first retransmission timeout, doubled at each retransmission."""
        self.transmissions = 0
        self.deadline = 0.0
        """When the exchange's timer is due (its entry in the endpoint's timer heap)."""
        self.expires = 0.0
        """MAX_TRANSMIT_WAIT after the first transmission: the latest a response may come."""
        self.acked = False
        self.ended = False


class LeanEndpoint:
    """One UDP socket that serves requests (``serve``) and sends its own."""

    def __init__(
        self,
        counters: Counters,
        *,
        serve: Serve | None = None,
        serve_batch: ServeBatch | None = None,
        ack_timeout_s: float = 2.0,
        max_retransmit: int = 4,
        remembered: int = 100_000,
        understood: frozenset[int] = UNDERSTOOD,
        seed: int | None = None,
    ) -> None:
        self.counters = counters
        self._serve = serve
        self._serve_batch = serve_batch
        self._inbox: list[tuple[Message, Address]] = []
        self._flush_handle: asyncio.Handle | None = None
        self._sock: socket.socket | None = None
        self.ack_timeout_s = ack_timeout_s
        self.max_retransmit = max_retransmit
        self.max_transmit_wait_s = ack_timeout_s * (2 ** (max_retransmit + 1) - 1) * 1.5
        """RFC 7252 MAX_TRANSMIT_WAIT: the longest a request waits for its response."""
        self._remembered = remembered
        self._understood = understood
        self._random = random.Random(seed)
        self._mid = self._random.randrange(1 << 16)
        self._token = self._random.getrandbits(32)
        self._by_mid: dict[int, Exchange] = {}
        self._by_token: dict[bytes, Exchange] = {}
        self._timers: list[tuple[float, int, Exchange]] = []
        """(when, order, exchange): each exchange's next retransmission or expiry; an entry
        whose exchange ended or has another deadline is dropped when it comes up."""
        self._timer_seq = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._in_due = False
        self._seen: OrderedDict[tuple[Address, int], bytes | None] = OrderedDict()
        self._serving: set[asyncio.Task[None]] = set()
        self._echoes: dict[tuple[Address, int], int] = {}
        """Duplicates that came while their request was being served: answered with it."""
        self._loop = asyncio.get_running_loop()

    # -- lifecycle ------------------------------------------------------------------------

    def open(self, local_addr: Address) -> None:
        """Bind a socket of its own and read it in bursts (``BURST`` datagrams a wake-up,
        where asyncio's datagram transport reads one); ``OSError`` if the bind fails."""
        family = socket.AF_INET6 if ":" in local_addr[0] else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            sock.bind(local_addr)
        except OSError:
            sock.close()
            raise
        self._sock = sock
        self._loop.add_reader(sock.fileno(), self._readable)

    @property
    def socket(self) -> socket.socket | None:
        """The endpoint's socket while it is open."""
        return self._sock

    @property
    def is_open(self) -> bool:
        return self._sock is not None

    def _readable(self) -> None:
        sock = self._sock
        if sock is None:
            return
        for _ in range(BURST):
            try:
                data, addr = sock.recvfrom(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as err:
                self.error_received(err)
                return
            self.datagram_received(data, addr)

    def error_received(self, exc: Exception) -> None:
        self.counters.incr("coap.socket-errors")
        log.debug("socket error: %s", exc)

    async def close(self, drain_s: float = 0.0) -> None:
        """Let requests being served finish (up to ``drain_s``), then close the socket."""
        if self._serving and drain_s > 0:
            await asyncio.wait(set(self._serving), timeout=drain_s)
        for task in set(self._serving):
            task.cancel()
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._inbox = []
        if self._sock is not None:
            self._loop.remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None
        self._fail_all("the endpoint is closed")

    def _fail_all(self, why: str) -> None:
        for exchange in list(self._by_mid.values()):
            self._finish(exchange, error=ExchangeError(why))
        self._timers = []

    # -- the wire -------------------------------------------------------------------------

    def _send(self, datagram: bytes, address: Address) -> None:
        if self._sock is not None:
            try:
                self._sock.sendto(datagram, address)
            except BlockingIOError:
                # The socket's send buffer is full: the peer's retransmission recovers it.
                self.counters.incr("coap.send-dropped")
            except OSError as err:
                self.error_received(err)

    def _reset(self, mid: int, address: Address) -> None:
        self._send(encode(Message(Type.RST, 0, mid)), address)

    def _next_mid(self) -> int:
        self._mid = (self._mid + 1) & 0xFFFF
        return self._mid

    def _next_token(self) -> bytes:
        self._token = (self._token + 1) & 0xFFFFFFFF
        return self._token.to_bytes(4, "big")

    def datagram_received(self, data: bytes, addr: Address) -> None:
        address = (addr[0], addr[1])
        try:
            message = decode(data)
        except ProtocolError as err:
            self.counters.incr("coap.refused.not-coap")
            if self.counters["coap.refused.not-coap"] == 1:
                log.warning("dropping datagrams that are not CoAP (coap.refused.not-coap): %s", err)
            try:
                mtype, _, mid = header(data)
            except (ProtocolError, ValueError):
                return
            if mtype is Type.CON:
                self._reset(mid, address)
            return
        if message.is_request:
            self._request(message, address)
        elif message.is_empty:
            self._empty(message, address)
        elif message.is_response:
            self._response(message, address)

    # -- serving --------------------------------------------------------------------------

    def _request(self, message: Message, address: Address) -> None:
        if message.mtype not in (Type.CON, Type.NON) or (
            self._serve is None and self._serve_batch is None
        ):
            if message.mtype is Type.CON:
                self._reset(message.mid, address)
            return
        key = (address, message.mid)
        if key in self._seen:
            self.counters.incr("coap.duplicates")
            answer = self._seen[key]
            if answer is not None:
                self._send(answer, address)
            else:  # still being prepared: it goes out again when ready
                self._echoes[key] = min(self._echoes.get(key, 0) + 1, MAX_ECHOES)
            return
        self._seen[key] = None
        while len(self._seen) > self._remembered:
            self._seen.popitem(last=False)
        bad = bad_option(message, self._understood)
        if bad is not None:
            self.counters.incr("coap.refused.bad-option")
            self._answer(message, address, Reply(BAD_OPTION, f"option {bad}".encode()))
            return
        self._inbox.append((message, address))
        if self._flush_handle is None:
            self._flush_handle = self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        """Serve the requests of this loop iteration: as one batch, or one task each."""
        self._flush_handle = None
        batch, self._inbox = self._inbox, []
        if not batch:
            return
        if self._serve_batch is not None:
            self._track(self._loop.create_task(self._serve_many(batch)))
            return
        for message, address in batch:
            self._track(self._loop.create_task(self._serve_one(message, address)))

    def _track(self, task: asyncio.Task[None]) -> None:
        self._serving.add(task)
        task.add_done_callback(self._serving.discard)

    async def _serve_many(self, batch: list[tuple[Message, Address]]) -> None:
        serve_batch = self._serve_batch
        if serve_batch is None:
            return
        try:
            replies = await serve_batch(batch)
        except Exception:
            log.exception("serving a burst of %d requests failed", len(batch))
            replies = [Reply(INTERNAL_SERVER_ERROR)] * len(batch)
        for (message, address), reply in zip(batch, replies, strict=True):
            self._answer(message, address, reply)

    async def _serve_one(self, message: Message, address: Address) -> None:
        serve = self._serve
        if serve is None:
            return
        try:
            reply = await serve(message, address)
        except Exception:
            log.exception("serving %s from %s failed", "/".join(message.uri_path), address)
            reply = Reply(INTERNAL_SERVER_ERROR)
        self._answer(message, address, reply)

    def _answer(self, request: Message, address: Address, reply: Reply) -> None:
        options = reply.all_options
        if request.mtype is Type.CON:
            response = Message(
                Type.ACK, reply.code, request.mid, request.token, options, reply.payload
            )
        else:
            response = Message(
                Type.NON, reply.code, self._next_mid(), request.token, options, reply.payload
            )
        datagram = encode(response)
        key = (address, request.mid)
        if key in self._seen:
            self._seen[key] = datagram
        self._send(datagram, address)
        for _ in range(self._echoes.pop(key, 0) if self._echoes else 0):
            self._send(datagram, address)

    # -- requesting -----------------------------------------------------------------------

    def start(
        self,
        address: Address,
        code: int,
        options: tuple[tuple[int, bytes], ...],
        payload: bytes,
        done: Done,
    ) -> Exchange:
        """Send a confirmable request (``options`` with its path; ``request_options``) and
        call ``done`` once, with its response or an ``ExchangeError``: no response within
        MAX_TRANSMIT_WAIT, reset by the peer, or the endpoint closed. ``done`` is never
        called from within ``start``; ``ExchangeError`` here if the request cannot be sent
        at all. No task, future or timer of its own: a city-wide change is thousands of
        these at once."""
        if self._sock is None:
            raise ExchangeError("the endpoint is closed")
        if len(self._by_mid) >= _MIDS:
            raise ExchangeError(f"{_MIDS} exchanges in flight: no message id is free")
        mid = self._next_mid()
        while mid in self._by_mid:
            mid = self._next_mid()
        exchange = Exchange(address, mid, self._next_token(), done)
        exchange.datagram = encode(Message(Type.CON, code, mid, exchange.token, options, payload))
        exchange.timeout = self.ack_timeout_s * self._random.uniform(1.0, 1.5)
        exchange.expires = self._loop.time() + self.max_transmit_wait_s
        self._by_mid[mid] = exchange
        self._by_token[exchange.token] = exchange
        self._transmit(exchange)
        return exchange

    async def request(
        self,
        address: Address,
        code: int,
        path: Sequence[str],
        payload: bytes = b"",
        *,
        content_format: int | None = None,
        options: Sequence[tuple[int, bytes]] = (),
    ) -> Message:
        """Send a confirmable request to ``address`` (with ``options`` besides its path and
        content format) and return its response; ``ExchangeError`` when none comes within
        MAX_TRANSMIT_WAIT or the peer resets it (or at once if the endpoint is closed or
        has every message id in flight)."""
        future: asyncio.Future[Message] = self._loop.create_future()

        def done(response: Message | None, error: ExchangeError | None) -> None:
            if future.done():
                return
            if response is not None:
                future.set_result(response)
            else:
                future.set_exception(error or ExchangeError("failed"))

        exchange = self.start(
            address, code, request_options(path, options, content_format), payload, done
        )
        try:
            return await future
        finally:
            self.cancel(exchange)  # nothing if it ended; else the caller gave up waiting

    def cancel(self, exchange: Exchange) -> None:
        """Forget the exchange without calling its ``done``: no response is wanted."""
        if not exchange.ended:
            exchange.ended = True
            self._forget(exchange)
            exchange.done, exchange.datagram = _ended, b""

    def _transmit(self, exchange: Exchange) -> None:
        """Send the request (again), then wait for the next timeout; give up after
        MAX_RETRANSMIT retransmissions."""
        if exchange.transmissions > self.max_retransmit:
            self._finish(
                exchange,
                error=ExchangeError(
                    f"no acknowledgement after {exchange.transmissions} transmissions",
                    timeout=True,
                ),
            )
            return
        if exchange.transmissions:
            self.counters.incr("coap.retransmissions")
        self._send(exchange.datagram, exchange.address)
        self._wake_at(
            exchange, self._loop.time() + exchange.timeout * (1 << exchange.transmissions)
        )
        exchange.transmissions += 1

    def _wake_at(self, exchange: Exchange, when: float) -> None:
        """Make ``when`` the exchange's next timer: one heap for every exchange, and one
        loop timer for the heap's earliest entry."""
        exchange.deadline = when
        heapq.heappush(self._timers, (when, next(self._timer_seq), exchange))
        if not self._in_due:
            self._arm()

    def _arm(self) -> None:
        """Set the loop timer to the heap's earliest entry, if it is not set sooner."""
        if not self._timers:
            return
        when = self._timers[0][0]
        if self._timer is None or when < self._timer_at:
            if self._timer is not None:
                self._timer.cancel()
            self._timer_at = when
            self._timer = self._loop.call_at(when, self._due)

    def _due(self) -> None:
        """The timer: retransmit or end every exchange whose time has come, drop the entries
        of exchanges that ended or moved, then wait for the next entry. What this schedules
        (retransmissions, a callback's new request) goes into the heap, and the timer is
        set once, at the end, for the earliest of all."""
        self._timer = None
        self._in_due = True
        try:
            now = self._loop.time()
            while self._timers:  # re-read: a callback may have compacted the heap
                when, _, exchange = self._timers[0]
                live = not exchange.ended and when == exchange.deadline
                if live and when > now:
                    break
                heapq.heappop(self._timers)
                if not live:
                    continue
                if exchange.acked:  # the response was to come separately; it did not
                    self._finish(
                        exchange,
                        error=ExchangeError(
                            f"no response within {self.max_transmit_wait_s:g} s", timeout=True
                        ),
                    )
                else:
                    self._transmit(exchange)
        finally:
            self._in_due = False
            self._arm()

    def _forget(self, exchange: Exchange) -> None:
        if self._by_mid.get(exchange.mid) is exchange:
            del self._by_mid[exchange.mid]
        if self._by_token.get(exchange.token) is exchange:
            del self._by_token[exchange.token]
        # An ended exchange's timer entry stays until its time comes; when such entries
        # are most of the heap, keep only the live ones (as asyncio does with cancelled
        # timers), so that the heap stays the size of what is in flight.
        timers = self._timers
        if len(timers) > _COMPACT_AT and len(timers) > 2 * len(self._by_mid):
            self._timers = [
                entry for entry in timers if not entry[2].ended and entry[0] == entry[2].deadline
            ]
            heapq.heapify(self._timers)

    def _finish(
        self,
        exchange: Exchange,
        *,
        response: Message | None = None,
        error: ExchangeError | None = None,
    ) -> None:
        if exchange.ended:
            return
        exchange.ended = True
        self._forget(exchange)
        done, exchange.done, exchange.datagram = exchange.done, _ended, b""
        # Its timer entry keeps the exchange until its time comes: not what it referred to.
        try:
            done(response, None if response is not None else error or ExchangeError("failed"))
        except Exception:
            log.exception("the end of an exchange with %s:%d was not taken", *exchange.address)

    def _empty(self, message: Message, address: Address) -> None:
        if message.mtype is Type.CON:  # a ping
            self._reset(message.mid, address)
            return
        exchange = self._by_mid.get(message.mid)
        if exchange is None or exchange.address[0] != address[0]:
            return
        if message.mtype is Type.RST:
            self._finish(exchange, error=ExchangeError(f"reset by {address[0]}"))
        elif message.mtype is Type.ACK and not exchange.acked:  # the response comes later
            # (A copy of the ACK, for a retransmission that crossed the first, changes
            # nothing: one expiry entry per exchange.)
            exchange.acked = True
            self._wake_at(exchange, exchange.expires)

    def _response(self, message: Message, address: Address) -> None:
        if message.mtype is Type.ACK:
            exchange = self._by_mid.get(message.mid)
            if exchange is not None and exchange.token == message.token:
                self._finish(exchange, response=message)
            return
        if message.mtype is Type.RST:
            return
        exchange = self._by_token.get(message.token)
        if exchange is None or exchange.address[0] != address[0]:
            if message.mtype is Type.CON:
                self._reset(message.mid, address)
            return
        if message.mtype is Type.CON:
            self._send(encode(Message(Type.ACK, 0, message.mid)), address)
        self._finish(exchange, response=message)
