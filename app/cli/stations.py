"""``mediatrack station``: reader stations, their API keys, and the station agent."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer

from app.cli.common import PASS_THROUGH, transaction
from app.core.principal import SYSTEM
from app.stations.schemas import MAX_GRACE_MINUTES

station_cli = typer.Typer(help="Reader stations.", no_args_is_help=True)


@station_cli.command("create")
def station_create(
    name: str,
    location: Annotated[str, typer.Option(help="Code of the station's location.")],
    kind: Annotated[str, typer.Option(help="desk, verify, handheld or portal")] = "desk",
) -> None:
    """Register a station; its API key is printed once, alone on the last line."""
    from app.stations import service
    from app.stations.schemas import StationCreate, StationKind

    with transaction() as session:
        station, key = service.create(
            session=session,
            station_in=StationCreate(name=name, kind=StationKind(kind), location=location),
            by=SYSTEM,
        )
    typer.echo(f"Station {station.name} created. Its API key (shown only now):", err=True)
    typer.echo(key)


@station_cli.command("run", context_settings=PASS_THROUGH)
def station_run(ctx: typer.Context) -> None:
    """Run the station agent: --reader URL --server URL [--key-file F] [--mode inventory
    --campaign ID] (see --help)."""
    from readers.agent import main as agent_main

    raise typer.Exit(code=agent_main(ctx.args))


@station_cli.command("status", context_settings=PASS_THROUGH)
def station_status(ctx: typer.Context) -> None:
    """Show the station's outbox: scans and inventory reads waiting, those the server refused
    (see --help)."""
    from readers.agent import status_main

    raise typer.Exit(code=status_main(ctx.args))


@station_cli.command("revoke")
def station_revoke(name: str) -> None:
    """Revoke a station's API key."""
    from app.stations import service

    with transaction() as session:
        service.revoke(session=session, name=name, by=SYSTEM)
    typer.echo(f"The key of station {name} is revoked.")


@station_cli.command("rotate-key")
def station_rotate_key(
    name: str,
    grace_minutes: Annotated[
        int,
        typer.Option(
            min=0,
            max=MAX_GRACE_MINUTES,
            help="How long the old key keeps working (0: stops at once, for a leaked key).",
        ),
    ] = 60,
) -> None:
    """Give a station a new API key, printed once, alone on the last line; the old key keeps
    working for the grace period, time to put the new one on the station."""
    from app.stations import service

    with transaction() as session:
        _, key = service.rotate_key(
            session=session, name=name, grace=timedelta(minutes=grace_minutes), by=SYSTEM
        )
    typer.echo(
        f"Station {name} has a new API key (shown only now); the old one works for "
        f"{grace_minutes} more minute(s):",
        err=True,
    )
    typer.echo(key)
