"""``lighting run``, ``demo`` and ``sim``: the daemon, the time-lapse demo and the simulator."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path
from typing import Annotated

import typer

from lighting.cli.common import (
    ConfigOption,
    LogFormatOption,
    LogLevel,
    app,
    err,
    get_settings,
    out,
    setup_logging,
)
from lighting.const import EXIT_REFUSED
from lighting.controller import Controller
from lighting.demo import run_demo
from lighting.errors import LightingError
from lighting.service import ServiceManager
from simulator import SimulatorError

log = logging.getLogger(__name__)


def _no_reuse_port() -> None:
    # Two endpoints on one address must fail loudly, not share traffic (aiocoap reads this).
    os.environ.setdefault("AIOCOAP_REUSE_PORT", "0")


@app.command()
def run(
    config: ConfigOption = None,
    log_level: LogLevel = "info",
    log_format: LogFormatOption = "text",
) -> None:
    """Run the controller daemon: plan each night, command the lamps, ingest their reports.

    SIGTERM or SIGINT stop it cleanly: no new command goes out, those on the air finish,
    reports in hand are stored. Under systemd (Type=notify) it says when it is ready and
    keeps the watchdog fed from its event loop; see docs/operations.md."""
    setup_logging(log_level, log_format)
    _no_reuse_port()
    settings = get_settings(config)
    manager = ServiceManager()

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        async with Controller(settings) as controller:
            manager.notify("READY=1", f"STATUS=serving {len(controller.registry)} lamps")
            heartbeat = asyncio.create_task(manager.heartbeat(), name="watchdog")
            try:
                await controller.serve(stop)
            finally:
                heartbeat.cancel()
                log.info("stopping: finishing the commands on the air, storing what is in hand")
                manager.notify("STOPPING=1", "STATUS=stopping")
        log.info("controller stopped")

    try:
        asyncio.run(main())
    except LightingError as error:
        err.print(f"[red]{error}")
        raise typer.Exit(EXIT_REFUSED) from error


@app.command()
def demo(
    lamps: Annotated[int, typer.Option(min=1, max=5000, help="Number of simulated lamps.")] = 60,
    forever: Annotated[bool, typer.Option(help="Then run the real night until Ctrl-C.")] = False,
    data_dir: Annotated[Path, typer.Option(help="Where the demo database goes.")] = Path(
        ".citylight-demo"
    ),
    log_level: LogLevel = "error",
) -> None:
    """Simulate a city and run the controller against it, printing what happens."""
    setup_logging(log_level)
    _no_reuse_port()
    try:
        asyncio.run(run_demo(lamps=lamps, data_dir=data_dir, forever=forever, console=out))
    except KeyboardInterrupt:
        out.print("stopped")
    except (LightingError, SimulatorError) as error:
        err.print(f"[red]{error}")
        raise typer.Exit(EXIT_REFUSED) from error
