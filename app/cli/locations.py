"""``mediatrack location``: the location tree."""

from __future__ import annotations

from typing import Annotated

import typer

from app.cli.common import transaction
from app.core.principal import SYSTEM

location_cli = typer.Typer(help="Locations.", no_args_is_help=True)


@location_cli.command("add")
def location_add(
    code: str,
    name: Annotated[str, typer.Option()],
    kind: Annotated[str, typer.Option(help="site, building, room, cabinet, shelf, ...")],
    parent: Annotated[str | None, typer.Option(help="Code of the parent location.")] = None,
) -> None:
    """Add a location to the tree."""
    from app.locations import service
    from app.locations.schemas import LocationCreate, LocationKind

    with transaction() as session:
        location_in = LocationCreate(code=code, name=name, kind=LocationKind(kind), parent=parent)
        location = service.create(session=session, location_in=location_in, by=SYSTEM)
        typer.echo(f"Added {location.code}: {location.path}")
