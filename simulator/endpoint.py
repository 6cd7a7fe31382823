"""UDP sockets for the lamps: one socket per lamp, or one socket for the whole fleet.

A lamp is reached at its own loopback address (127.x.y.z) on the fleet's port, and sends
its uplinks from that address: the controller learns it from the registration's source.

- **Shared** (``Endpoint("0.0.0.0", port)``): one socket bound to the wildcard address
  on the port, tied to the loopback interface (``SO_BINDTODEVICE lo`` where the system
  allows it). Linux delivers to it every datagram for any 127.x.y.z on that port; with
  ``IP_PKTINFO`` each datagram comes with the address it was sent to, which picks the lamp;
  replies and uplinks carry an ``IP_PKTINFO`` that sets their source address to the lamp's.
  One descriptor for 100,000 lamps. It needs the port to itself: a wildcard bind conflicts
  with any other socket on that port (a controller on 127.0.0.1 at the same port), unless
  both ask for address reuse, which aiocoap's sockets do not.
- **Per lamp** (``Endpoint("127.1.0.7", port)``): one socket bound to the lamp's address,
  so the fleet can share its port with a controller on another loopback address (the
  tests do), at one descriptor per lamp.

Datagrams for an address no lamp holds are dropped without an answer (and counted): a radio
network sends no ICMP for a device out of coverage.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
from typing import Protocol

from simulator.errors import BindError

log = logging.getLogger(__name__)

WILDCARD = "0.0.0.0"  # noqa: S104 - bound to the loopback device, see the module docstring
IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)
SO_BINDTODEVICE = getattr(socket, "SO_BINDTODEVICE", 25)
_PKTINFO = struct.Struct("@i4s4s")
_ANY = b"\0\0\0\0"
RECEIVE_BATCH = 512
"""Datagrams read per wake-up of the loop, so that one busy socket cannot starve it."""
MAX_DATAGRAM = 2048
SHARED_BUFFER_BYTES = 8 * 1024 * 1024
"""Receive and send buffers asked for the shared socket (the kernel may grant less)."""


class Receiver(Protocol):
    """What an endpoint hands a datagram to: the lamp at the datagram's address."""

    def datagram(self, data: bytes, remote: tuple[str, int]) -> None: ...


class Endpoint:
    """One UDP socket and the lamps it serves, by address."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.shared = host == WILDCARD
        self.receivers: dict[str, Receiver] = {}
        self.unknown = 0
        """Datagrams for an address that no lamp holds (dropped)."""
        self.send_failures = 0
        """Datagrams the kernel refused to send (a full buffer, an ICMP error)."""
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def is_open(self) -> bool:
        return self._sock is not None

    def open(self) -> None:
        """Bind the socket and start reading; ``BindError`` if the system refuses."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            if self.shared:
                self._loopback_only(sock)
                sock.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
                for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
                    with contextlib.suppress(OSError):
                        sock.setsockopt(socket.SOL_SOCKET, option, SHARED_BUFFER_BYTES)
            sock.bind((self.host, self.port))
        except OSError as err:
            sock.close()
            raise BindError(self.host, self.port, err.strerror or str(err)) from err
        self._sock = sock
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(sock.fileno(), self._readable)

    @staticmethod
    def _loopback_only(sock: socket.socket) -> None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, b"lo\0")
        except OSError as err:
            # Without it the socket also sees datagrams sent to this machine's other
            # addresses on the port; they are dropped, since no lamp holds those addresses.
            log.info("shared lamp socket not tied to the loopback device: %s", err)

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is None:
            return
        if self._loop is not None:
            self._loop.remove_reader(sock.fileno())
        sock.close()

    def attach(self, address: str, receiver: Receiver) -> None:
        if not self.shared and address != self.host:
            raise ValueError(f"a socket bound to {self.host} cannot serve {address}")
        if address in self.receivers:
            raise BindError(address, self.port, "address already in use by another lamp")
        self.receivers[address] = receiver

    def detach(self, address: str) -> None:
        self.receivers.pop(address, None)

    def send(self, source: str, data: bytes, remote: tuple[str, int]) -> None:
        """Send ``data`` to ``remote`` from the lamp at ``source``."""
        sock = self._sock
        if sock is None:
            return
        try:
            if self.shared:
                info = _PKTINFO.pack(0, socket.inet_aton(source), _ANY)
                sock.sendmsg([data], [(socket.IPPROTO_IP, IP_PKTINFO, info)], 0, remote)
            else:
                sock.sendto(data, remote)
        except OSError:
            # A full send buffer, or an error left by an ICMP message: the datagram is
            # lost, as on a radio link; CoAP's retransmissions deal with it.
            self.send_failures += 1

    def _readable(self) -> None:
        sock = self._sock
        if sock is None:
            return
        receivers = self.receivers
        for _ in range(RECEIVE_BATCH):
            try:
                if self.shared:
                    data, ancillary, _flags, remote = sock.recvmsg(MAX_DATAGRAM, 64)
                else:
                    data, remote = sock.recvfrom(MAX_DATAGRAM)
                    ancillary = []
            except BlockingIOError:
                return
            except OSError:
                continue
            destination = self.host
            for level, kind, value in ancillary:
                if level == socket.IPPROTO_IP and kind == IP_PKTINFO:
                    destination = socket.inet_ntoa(_PKTINFO.unpack_from(value)[2])
            receiver = receivers.get(destination)
            if receiver is None:
                self.unknown += 1
                continue
            receiver.datagram(data, remote)
