"""``mediatrack backup`` and ``mediatrack restore``: a copy of the database, and back."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from app.cli.audit import check_log, read_checkpoint
from app.cli.common import fail
from app.core.config import Settings

commands = typer.Typer()


def _progress(message: str) -> None:
    typer.echo(f"  {message}", err=True)


@commands.command()
def backup(
    out: Annotated[Path, typer.Option(help="File to write the backup to (mode 0600).")],
) -> None:
    """Copy MEDIATRACK_DATABASE_URL to a file, consistently, while the service runs."""
    from app.backup import service

    typer.echo(f"Backing up to {out} ...", err=True)
    try:
        summary = service.backup(url=Settings().database_url, out=out, progress=_progress)
    except service.BackupError as exc:
        raise fail(exc.message) from exc
    typer.echo(
        f"Backup written to {out}: {summary.events} custody events, {summary.carriers} "
        f"carriers, {service.size_text(summary.size)}."
    )


@commands.command()
def restore(
    file: Annotated[Path, typer.Argument(help="A file written by `mediatrack backup`.")],
    checkpoint: Annotated[
        Path | None,
        typer.Option(help="Then verify the restored custody log against this exported "
                     "checkpoint (the newest you have): the restore drill."),
    ] = None,
    force: Annotated[
        bool, typer.Option(help="Replace a database that already holds carriers or events.")
    ] = False,
) -> None:
    """Load a backup into MEDIATRACK_DATABASE_URL (empty or new, unless --force)."""
    from app.backup import service

    # Read before restoring: an unreadable checkpoint should not wait for a long restore.
    exported = read_checkpoint(checkpoint) if checkpoint is not None else None
    typer.echo(f"Restoring {file} ...", err=True)
    try:
        summary = service.restore(
            url=Settings().database_url, source=file, force=force, progress=_progress
        )
    except service.BackupError as exc:
        raise fail(exc.message) from exc
    typer.echo(
        f"Restored {file}: {summary.events} custody events, {summary.carriers} carriers, "
        f"{service.size_text(summary.size)}."
    )
    if exported is None:
        typer.echo(
            "Check it against your newest checkpoint: mediatrack audit verify --checkpoint FILE",
            err=True,
        )
        return
    check_log(exported)
