"""Socket settings the transports need, asked of the system and checked."""

from __future__ import annotations

import logging
import socket

log = logging.getLogger(__name__)


def size_receive_buffer(sock: socket.socket, wanted: int) -> int:
    """Ask for a ``wanted``-byte receive buffer; the size granted (warned about if less).

    One socket takes every lamp's answer: a city-wide change brings thousands at once, and
    the default buffer (about 200 KiB, some 250 small datagrams with their overhead) drops
    the rest, which CoAP then retransmits seconds later.
    """
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, wanted)
    except OSError as err:
        log.warning("the system refused a %d-byte receive buffer: %s", wanted, err)
    granted: int = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) // 2  # Linux doubles it
    if granted < wanted:
        log.warning(
            "receive buffer is %d bytes, not the %d asked for: raise net.core.rmem_max "
            "(sysctl) or answers to city-wide changes will be dropped and retransmitted",
            granted,
            wanted,
        )
    return granted
