"""``lighting dashboard``: the operator's live terminal view of the running daemon.

It talks to the daemon over the control channel only (``[control] socket``, or ``--socket``);
started before the daemon it waits for it, and it reconnects when the daemon comes back.
Orders given from it (overrides, cancellations, acknowledgements) are recorded with the name
given by ``--by`` (the login name by default).
"""

from __future__ import annotations

import getpass
import logging
from pathlib import Path
from typing import Annotated

import typer

from lighting.cli.common import ConfigOption, app, err, get_settings
from lighting.const import EXIT_USAGE

log = logging.getLogger(__name__)

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def operator_name() -> str:
    """Who sits at the dashboard: the login name, or ``operator`` when there is none."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name (a container without USER, say)
        return "operator"


def _log_to(path: Path | None, level: str) -> None:
    """The screen belongs to the dashboard: logs go to a file, or to textual's devtools."""
    handler: logging.Handler
    if path is None:
        from textual.logging import TextualHandler  # noqa: PLC0415 - only for the dashboard

        handler = TextualHandler()
    else:
        handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO), handlers=[handler])


@app.command()
def dashboard(
    config: ConfigOption = None,
    socket: Annotated[
        Path | None,
        typer.Option(help="The daemon's control socket; overrides \\[control] socket."),
    ] = None,
    by: Annotated[
        str | None,
        typer.Option("--by", help="Who gives the orders (default: the login name)."),
    ] = None,
    log_file: Annotated[
        Path | None,
        typer.Option(help="Write the dashboard's log here (default: textual's devtools console)."),
    ] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning, error")] = "warning",
) -> None:
    """The live dashboard: the city, tonight, faults, a lamp, delivery, energy; and orders."""
    settings = get_settings(config)
    if socket is None and not settings.control.enabled:
        err.print(
            "[red]the control channel is disabled[/] in this configuration "
            "(\\[control] enabled = false): the dashboard has no daemon to talk to"
        )
        raise typer.Exit(EXIT_USAGE)
    who = (by or operator_name()).strip()
    if not who:
        err.print("[red]--by[/]: say who gives the orders")
        raise typer.Exit(EXIT_USAGE)
    _log_to(log_file, log_level)
    from lighting.tui import run_dashboard  # noqa: PLC0415 - textual loads only for this command

    path = socket if socket is not None else Path(settings.control.socket)
    log.info("dashboard for the daemon at %s, orders by %s", path, who)
    run_dashboard(path, by=who)
