"""``lighting keys``: the lamps' OSCORE keys (RFC 8613): provision them, see what is there.

``provision`` gives every lamp of an inventory (a CSV or GeoJSON file, or the lamps in the
record) a key of its own in the key directory; it never prints or logs a secret. ``list``
shows which lamps have keys and how far their sequence numbers have gone, without secrets.
See docs/security.md for what may and may not be done with the directory.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from lighting.cli.common import ConfigOption, DbOption, app, err, get_settings, opened
from lighting.const import EXIT_NONE, EXIT_REFUSED, EXIT_USAGE
from lighting.errors import ConfigError, LightingError, ProtocolError
from lighting.keys import keys_file, provision, read_keys, state_file
from lighting.protocol.inventory import read_inventory

keys_app = typer.Typer(help="The lamps' OSCORE keys: provision, list.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")

DirOption = Annotated[
    Path | None,
    typer.Option("--dir", help="The key directory (default: the configuration's [coap] keys)."),
]


def _directory(directory: Path | None, config: Path | None) -> Path:
    if directory is not None:
        return directory
    configured = get_settings(config).coap.keys
    if configured is None:
        err.print("[red]no key directory:[/] give --dir, or set [coap] keys in the configuration")
        raise typer.Exit(EXIT_USAGE)
    return configured


def _inventory_ids(path: Path) -> list[str]:
    try:
        lamps = read_inventory(path.read_text("utf-8"), path.name)
    except OSError as error:
        err.print(f"[red]cannot read {path}:[/] {error.strerror or error}")
        raise typer.Exit(EXIT_USAGE) from error
    except ProtocolError as error:
        err.print(f"[red]{path}:[/] {error.reason}")
        raise typer.Exit(EXIT_USAGE) from error
    return [lamp.lamp_id for lamp in lamps]


@keys_app.command(name="provision")
def provision_keys(
    directory: DirOption = None,
    inventory: Annotated[
        Path | None,
        typer.Option("--inventory", help="Inventory (CSV or GeoJSON); default: the record."),
    ] = None,
    config: ConfigOption = None,
    db: DbOption = None,
) -> None:
    """Give each lamp without a key a new one (existing keys are kept).

    Writes controller.keys.json (for the controller) and lamps.keys.json (for the lamps'
    provisioning, or the simulator) into the directory, both mode 0600, the directory 0700.
    """
    where = _directory(directory, config)
    if inventory is not None:
        lamp_ids = _inventory_ids(inventory)
    else:
        with opened(get_settings(config, db)) as repo:
            lamp_ids = [lamp.lamp_id for lamp in repo.lamps()]
    if not lamp_ids:
        err.print("[yellow]no lamps: import an inventory first, or give --inventory")
        raise typer.Exit(EXIT_NONE)
    try:
        result = provision(where, lamp_ids)
    except ConfigError as error:
        err.print(f"[red]{error}")
        raise typer.Exit(EXIT_REFUSED) from error
    except OSError as error:
        err.print(f"[red]cannot write keys into {where}:[/] {error.strerror or error}")
        raise typer.Exit(EXIT_REFUSED) from error
    typer.echo(
        f"{where}: {result.kept + len(result.added)} lamps, {len(result.added)} added, "
        f"{result.kept} kept"
    )
    typer.echo(
        f"  {keys_file(where, 'controller').name}: for the controller ([coap] keys = {where})"
    )
    typer.echo(
        f"  {keys_file(where, 'lamps').name}: for the lamps' provisioning (or `lighting sim "
        f"--keys {where}`); never restore either side's .seq.json from a backup"
    )


@keys_app.command(name="list")
def list_keys(
    directory: DirOption = None,
    config: ConfigOption = None,
    output: Annotated[str, typer.Option("--format", "-f", help="table or json")] = "table",
) -> None:
    """The lamps that have keys, their kid and the controller's next sequence number."""
    where = _directory(directory, config)
    try:
        keys = read_keys(keys_file(where, "controller"))
        state = json.loads(state_file(where, "controller").read_bytes())
    except LightingError as error:
        err.print(f"[red]{error}")
        raise typer.Exit(EXIT_REFUSED) from error
    except (OSError, ValueError) as error:
        err.print(f"[red]{state_file(where, 'controller')}:[/] {error}")
        raise typer.Exit(EXIT_REFUSED) from error
    saved = state.get("contexts", {}) if isinstance(state, dict) else {}
    rows = [
        {
            "lamp_id": key.lamp_id,
            "kid": key.kid.hex(),
            "next_sequence": saved.get(key.kid.hex(), {}).get("next", 0),
        }
        for key in keys
    ]
    if output == "json":
        typer.echo(json.dumps(rows, indent=2))
    else:
        typer.echo(f"{'lamp':<16} {'kid':<8} next sequence")
        for row in rows:
            typer.echo(f"{row['lamp_id']:<16} {row['kid']:<8} {row['next_sequence']}")
    if not rows:
        raise typer.Exit(EXIT_NONE)
