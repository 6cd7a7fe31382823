"""``lighting import``: the city's lamp inventory (CSV or GeoJSON) into the record."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated

import typer

from lighting.cli.common import ConfigOption, DbOption, app, get_settings
from lighting.const import EXIT_REFUSED, EXIT_USAGE
from lighting.controller import utc_now
from lighting.errors import LightingError, ProtocolError
from lighting.protocol.inventory import read_inventory
from lighting.storage import Repository


@app.command(name="import")
def import_inventory(
    file: Annotated[
        Path, typer.Argument(help="Inventory: CSV, or GeoJSON (.geojson, .json) of points.")
    ],
    config: ConfigOption = None,
    db: DbOption = None,
    by: Annotated[
        str | None, typer.Option("--by", help="Who imports it (default: the user name).")
    ] = None,
) -> None:
    """Import the lamp inventory: the controller knows every lamp before it registers.

    New lamps are added (out of contact until they speak); lamps that have not registered
    yet are updated; lamps that have registered keep what they said themselves.
    """
    settings = get_settings(config, db)
    try:
        text = file.read_text("utf-8")
    except OSError as error:
        typer.echo(f"cannot read {file}: {error.strerror or error}", err=True)
        raise typer.Exit(EXIT_USAGE) from error
    try:
        lamps = read_inventory(text, file.name)
    except ProtocolError as error:
        typer.echo(f"{file}: {error.reason}", err=True)
        raise typer.Exit(EXIT_USAGE) from error
    try:
        repo = Repository.open(settings.database_url)
    except LightingError as error:
        typer.echo(f"database error: {error}", err=True)
        raise typer.Exit(EXIT_REFUSED) from error
    try:
        result = repo.import_lamps(lamps, utc_now(), by=by or getpass.getuser(), source=file.name)
    except LightingError as error:
        typer.echo(f"database error: {error}", err=True)
        raise typer.Exit(EXIT_REFUSED) from error
    finally:
        repo.close()
    typer.echo(
        f"{file}: {result.total} lamps, {result.added} added, {result.updated} updated, "
        f"{result.kept} kept as registered"
    )
