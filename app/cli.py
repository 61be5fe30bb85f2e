"""The ``mediatrack`` command."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from sqlmodel import Session

from app.core.config import Settings
from app.core.db import make_engine, session_scope
from app.core.errors import AppError
from app.core.principal import SYSTEM
from app.media import cli as media_cli

cli = typer.Typer(help="MediaTrack: custody of radiology archive media.", no_args_is_help=True)
db_cli = typer.Typer(help="Database schema.", no_args_is_help=True)
user_cli = typer.Typer(help="Staff accounts.", no_args_is_help=True)
station_cli = typer.Typer(help="Reader stations.", no_args_is_help=True)
carrier_cli = typer.Typer(help="Carriers.", no_args_is_help=True)
location_cli = typer.Typer(help="Locations.", no_args_is_help=True)
audit_cli = typer.Typer(help="The custody log.", no_args_is_help=True)
cli.add_typer(db_cli, name="db")
cli.add_typer(user_cli, name="user")
cli.add_typer(station_cli, name="station")
cli.add_typer(carrier_cli, name="carrier")
cli.add_typer(location_cli, name="location")
cli.add_typer(audit_cli, name="audit")
media_cli.add_commands(cli)


def fail(message: str) -> typer.Exit:
    typer.secho(message, fg=typer.colors.RED, err=True)
    return typer.Exit(code=1)


@contextmanager
def transaction(settings: Settings | None = None) -> Iterator[Session]:
    """One committed transaction on the configured database; errors exit non-zero."""
    settings = settings or Settings()
    engine = make_engine(settings.database_url, busy_timeout_ms=settings.SQLITE_BUSY_TIMEOUT_MS)
    if settings.is_embedded_sqlite:
        from app.core.migrations import upgrade

        upgrade(engine)
    try:
        with session_scope(engine) as session:
            yield session
    except AppError as exc:
        raise fail(exc.message) from exc
    finally:
        engine.dispose()


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Start the service on MEDIATRACK_DATABASE_URL (default: the embedded SQLite file)."""
    import uvicorn

    from app.core.migrations import upgrade
    from app.main import create_app

    settings = Settings()
    app = create_app(settings)
    if settings.is_embedded_sqlite:
        upgrade(app.state.engine)
    typer.echo(f"MediaTrack on http://{host}:{port} (API docs at /docs)")
    uvicorn.run(app, host=host, port=port, log_level="info")


@db_cli.command("upgrade")
def db_upgrade() -> None:
    """Create or upgrade the schema on MEDIATRACK_DATABASE_URL."""
    from app.core.migrations import current_revision, upgrade

    settings = Settings()
    engine = make_engine(settings.database_url)
    upgrade(engine)
    typer.echo(f"Schema at revision {current_revision(engine)}.")
    engine.dispose()


@cli.command()
def demo(
    reset: Annotated[bool, typer.Option(help="Start from an empty embedded database.")] = False,
) -> None:
    """Load the demo archive (a hospital, a second building, an offsite vault)."""
    from app import demo as demo_data

    settings = Settings()
    if reset:
        if not settings.is_embedded_sqlite:
            raise fail("--reset only deletes the embedded SQLite database, not a configured one.")
        db = Path(settings.database_url.removeprefix("sqlite:///"))
        for path in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
            path.unlink(missing_ok=True)
    with transaction(settings) as session:
        demo_data.load(session=session, settings=settings, echo=typer.echo)


@user_cli.command("create")
def user_create(
    username: str,
    role: Annotated[str, typer.Option(help="clerk, clinician, auditor or admin")],
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    password_stdin: Annotated[bool, typer.Option(help="Read the password from stdin.")] = False,
) -> None:
    """Create a member of staff (this is how the first admin is made)."""
    from pydantic import ValidationError

    from app.users import service
    from app.users.schemas import UserCreate

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user_in = UserCreate(
            username=username, display_name=name or username, role=role, password=password
        )
    except ValidationError as exc:
        problems = "; ".join(f"{e['loc'][0]}: {e['msg']}" for e in exc.errors())
        raise fail(f"Cannot create that user: {problems}.") from exc
    with transaction() as session:
        user = service.create(session=session, user_in=user_in)
        typer.echo(f"Created {user.role} {user.username}.")


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
        )
    typer.echo(f"Station {station.name} created. Its API key (shown only now):", err=True)
    typer.echo(key)


_PASS_THROUGH = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []}


@station_cli.command("run", context_settings=_PASS_THROUGH)
def station_run(ctx: typer.Context) -> None:
    """Run the station agent: --reader URL --server URL [--key-file F] (see --help)."""
    from readers.agent import main as agent_main

    raise typer.Exit(code=agent_main(ctx.args))


@station_cli.command("status", context_settings=_PASS_THROUGH)
def station_status(ctx: typer.Context) -> None:
    """Show the station's outbox: scans waiting, scans the server refused (see --help)."""
    from readers.agent import status_main

    raise typer.Exit(code=status_main(ctx.args))


@cli.command("label", context_settings=_PASS_THROUGH)
def label_tag(ctx: typer.Context) -> None:
    """Write a carrier's label onto the tag on the reader, check it, then bind it (see --help)."""
    from readers.labelling import main as labelling_main

    raise typer.Exit(code=labelling_main(ctx.args))


@station_cli.command("revoke")
def station_revoke(name: str) -> None:
    """Revoke a station's API key."""
    from app.stations import service

    with transaction() as session:
        service.revoke(session=session, name=name)
    typer.echo(f"The key of station {name} is revoked.")


@carrier_cli.command("register")
def carrier_register(
    label: str,
    kind: Annotated[str, typer.Option(help="CD, DVD, BD, M-DISC, LTO-5 ... LTO-10")],
    location: Annotated[str, typer.Option(help="Code of its home location.")],
) -> None:
    """Register a carrier at its home location."""
    from pydantic import ValidationError

    from app.carriers import service
    from app.carriers.schemas import CarrierCreate

    try:
        carrier_in = CarrierCreate.model_validate(
            {"label": label, "kind": kind, "home_location": location}
        )
    except ValidationError as exc:
        problems = "; ".join(f"{e['loc'][0]}: {e['msg']}" for e in exc.errors())
        raise fail(f"Cannot register {label}: {problems}.") from exc
    with transaction() as session:
        carrier = service.register(session=session, principal=SYSTEM, carrier_in=carrier_in)
        typer.echo(f"Registered {service.name(carrier)}.")


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
        location = service.create(session=session, location_in=location_in)
        typer.echo(f"Added {location.code}: {location.path}")


@cli.command()
def where(
    query: str,
    kind: Annotated[str, typer.Option(help="auto, tag, label, study, accession, patient")] = "auto",
) -> None:
    """Where is it? Prints each carrier, its place, holder, due date and other copies."""
    from app.lookup import service
    from app.lookup.schemas import QueryKind

    settings = Settings()
    with transaction(settings) as session:
        result = service.where(
            session=session,
            principal=SYSTEM,
            query=query,
            kind=QueryKind(kind),
            secret=settings.secret_key,
        )
    if not result.hits:
        raise fail(f"Nothing found for that {result.kind.value}.")
    for hit in result.hits:
        c = hit.carrier
        part = f" (part {c.set_number} of {c.set_total})" if c.set_total else ""
        typer.echo(f"{c.kind} {c.label}{part}: {c.status.replace('_', ' ')}")
        typer.echo(f"  at {c.location.path}")
        if c.holder:
            late = " (overdue)" if c.holder.overdue else ""
            typer.echo(
                f"  lent to {c.holder.borrower} for {c.holder.purpose}, due {c.holder.due_on}{late}"
            )
        if c.transit:
            typer.echo(f"  in transit to {c.transit.to.path}, expected {c.transit.expected_on}")
        for study in c.studies:
            when = f" {study.study_date}" if study.study_date else ""
            typer.echo(f"  study {study.study_uid}{when} {study.modalities}")
        for other in hit.other_copies:
            typer.echo(
                f"  also on {other.kind} {other.label} ({other.status.replace('_', ' ')}) "
                f"at {other.location_path}"
            )


@audit_cli.command("verify")
def audit_verify(
    checkpoint: Annotated[
        Path | None, typer.Option(help="An exported checkpoint file to check the log against.")
    ] = None,
) -> None:
    """Recompute the custody log's hash chain; exit 1 naming the first bad entry."""
    from app.audit import service

    exported = None
    if checkpoint is not None:
        try:
            exported = service.ExportedCheckpoint(**json.loads(checkpoint.read_text()))
        except (OSError, ValueError, TypeError) as exc:
            raise fail(f"{checkpoint} is not a readable checkpoint file.") from exc
    with transaction() as session:
        report = service.verify(session, checkpoint=exported)
    if not report.ok:
        raise fail(
            f"Custody log NOT intact: {report.reason} (first bad entry: {report.first_bad_seq})."
        )
    against = f", matching the checkpoint of {exported.signed_at}" if exported else ""
    typer.echo(f"Custody log intact: {report.size} entries, head {report.head_hash}{against}.")


@audit_cli.command("checkpoint")
def audit_checkpoint(
    out: Annotated[Path, typer.Option(help="File to write the signed checkpoint to.")],
) -> None:
    """Sign the log's current size and head hash (Ed25519) and export it to a file."""
    import dataclasses

    from app.audit import service

    settings = Settings()
    key = service.load_signing_key(settings.signing_key_file)
    with transaction(settings) as session:
        exported = service.create_checkpoint(session, key=key, origin=settings.SITE_NAME)
    out.write_text(json.dumps(dataclasses.asdict(exported), indent=2) + "\n")
    typer.echo(
        f"Checkpoint of {exported.size} entries written to {out}. Keep a copy off this machine."
    )


def main() -> None:
    cli()
