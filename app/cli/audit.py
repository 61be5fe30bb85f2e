"""``mediatrack audit``: check the custody log and export signed checkpoints of it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from app.cli.common import fail, transaction
from app.core.config import Settings

if TYPE_CHECKING:
    from app.audit.service import ExportedCheckpoint

audit_cli = typer.Typer(help="The custody log.", no_args_is_help=True)


@audit_cli.command("verify")
def audit_verify(
    checkpoint: Annotated[
        Path | None, typer.Option(help="An exported checkpoint file to check the log against.")
    ] = None,
) -> None:
    """Recompute the custody log's hash chain; exit 1 naming the first bad entry."""
    check_log(read_checkpoint(checkpoint) if checkpoint is not None else None)


def read_checkpoint(path: Path) -> ExportedCheckpoint:
    from app.audit.service import ExportedCheckpoint

    try:
        return ExportedCheckpoint(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError) as exc:
        raise fail(f"{path} is not a readable checkpoint file.") from exc


def check_log(exported: ExportedCheckpoint | None) -> None:
    """Verify the configured database's log (against a checkpoint): a line, or exit 1."""
    from app.audit import service

    with transaction(reading_only=True) as session:
        report = service.verify(session, checkpoint=exported)
    if not report.ok:
        first = f" (first bad entry: {report.first_bad_seq})" if report.first_bad_seq else ""
        raise fail(f"Custody log NOT intact: {report.reason}{first}.")
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
