"""The daemon under a service manager: systemd's notify protocol (``sd_notify(3)``).

With ``Type=notify`` systemd starts ``lighting run`` and waits for ``READY=1``, sent once
the controller listens and knows its lamps. With ``WatchdogSec=`` it expects
``WATCHDOG=1`` at least that often and restarts the daemon when it stops coming: the
heartbeat is sent from the controller's own event loop, so a loop that hangs (a blocking
call, a deadlock) is caught, not only a process that dies. ``STOPPING=1`` says a SIGTERM is
being honoured (commands on the air finish, buffers are flushed). Without
``NOTIFY_SOCKET`` in the environment (not under systemd) all of this does nothing.

The protocol is one datagram of ``KEY=value`` lines to a Unix socket: a dozen lines here,
where the ``systemd`` Python bindings would need libsystemd's headers to build.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)


class ServiceManager:
    """Tells systemd how the daemon is doing, when it runs under systemd."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        # An address starting with "@" is in the abstract namespace.
        self.address = "\0" + address[1:] if address.startswith("@") else address
        self.watchdog_s: float | None = None
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        if usec.isdigit() and int(usec) > 0 and (not pid or pid == str(os.getpid())):
            self.watchdog_s = int(usec) / 1_000_000
        self._failed = False

    @property
    def active(self) -> bool:
        return bool(self.address)

    def notify(self, *fields: str) -> bool:
        """Send ``fields`` (``READY=1``, ``STATUS=...``); whether systemd got them."""
        if not self.address:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.sendto("\n".join(fields).encode(), self.address)
        except OSError as err:
            if not self._failed:  # said once: the daemon goes on without its manager
                log.warning("cannot notify the service manager at %s: %s", self.address, err)
            self._failed = True
            return False
        return True

    async def heartbeat(self) -> None:
        """Send ``WATCHDOG=1`` at half the watchdog interval, until cancelled."""
        if self.watchdog_s is None:
            return
        interval = self.watchdog_s / 2
        log.info("watchdog heartbeat every %.1f s", interval)
        while True:
            self.notify("WATCHDOG=1")
            await asyncio.sleep(interval)
