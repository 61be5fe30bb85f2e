"""The ``mediatrack`` command: one module per command group, wired together here.

``common`` holds what the commands share (the transaction, how a failure is printed).
"""

from __future__ import annotations

import typer

from app.cli import (
    audit,
    backup,
    carriers,
    db,
    locations,
    lookup,
    media,
    server,
    stations,
    tags,
    users,
)

cli = typer.Typer(help="MediaTrack: custody of radiology archive media.", no_args_is_help=True)
cli.add_typer(media.commands)
cli.add_typer(server.commands)
cli.add_typer(backup.commands)
cli.add_typer(tags.commands)
cli.add_typer(lookup.commands)
cli.add_typer(db.db_cli, name="db")
cli.add_typer(users.user_cli, name="user")
cli.add_typer(stations.station_cli, name="station")
cli.add_typer(carriers.carrier_cli, name="carrier")
cli.add_typer(locations.location_cli, name="location")
cli.add_typer(audit.audit_cli, name="audit")


def main() -> None:
    cli()
