"""``mediatrack import-media`` and ``mediatrack verify``: read a mounted medium here, record it.

The medium is read before the database is touched, so a slow drive holds no lock. Progress
goes to stderr; the report (or ``--json``) to stdout. The human report names studies by UID,
accession and date, never by PatientID.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from app.cli.common import fail, transaction
from app.core.principal import SYSTEM
from app.media.reading import MediumReading, ProgressCallback, ReadProgress, read_medium

commands = typer.Typer()


def _progress(quiet: bool) -> ProgressCallback | None:
    if quiet:
        return None
    state = {"shown": -1}

    def show(p: ReadProgress) -> None:
        percent = 100 * p.bytes_done // p.bytes_total if p.bytes_total else 100
        if percent != state["shown"] or p.files_done == p.files_total:
            state["shown"] = percent
            typer.echo(
                f"\rread {p.files_done}/{p.files_total} files, {p.bytes_done / 1e6:.0f} MB "
                f"({percent}%)",
                err=True,
                nl=p.files_done == p.files_total,
            )

    return show


def _read(path: Path, label: str, quiet: bool) -> MediumReading:
    from app.core.errors import AppError
    from app.core.validation import check_label

    try:
        # A bad label is refused before a long read, not after.
        check_label(label)
        return read_medium(path, label=label, progress=_progress(quiet))
    except AppError as exc:
        raise fail(exc.message) from exc


def _print_report(reading: MediumReading) -> None:
    typer.echo(
        f"{reading.instance_count} instances in {len(reading.studies)} studies, "
        f"{len(reading.files)} files, {reading.byte_count / 1e6:.1f} MB; "
        f"File-set ID {reading.fileset_id or '-'}"
    )
    for s in reading.studies:
        missing = f", {s.missing_instance_count} missing" if s.missing_instance_count else ""
        typer.echo(
            f"  study {s.study_instance_uid} {s.study_date or ''} acc {s.accession_number or '-'} "
            f"{'/'.join(s.modalities)}: {s.series_count} series, {s.instance_count} instances"
            f"{missing}"
        )
    for p in reading.problems:
        typer.echo(f"  {p.severity.value}: {p.message}")


@commands.command("import-media")
def import_media(
    path: Annotated[Path, typer.Argument(help="Mount point or folder of the medium.")],
    carrier: Annotated[str, typer.Option("--carrier", help="The carrier's label.")],
    kind: Annotated[
        str | None, typer.Option(help="Media kind, to register a new label (CD, DVD, LTO-8...).")
    ] = None,
    location: Annotated[
        str | None, typer.Option(help="Home location code, to register a new label.")
    ] = None,
    accept_problems: Annotated[
        bool, typer.Option(help="Record the medium even though it has errors.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    quiet: Annotated[bool, typer.Option(help="No progress on stderr.")] = False,
) -> None:
    """Read a medium and record its studies and manifest under its carrier label."""
    from app.carriers.schemas import CarrierKind
    from app.media import service

    register = None
    if kind is not None:
        try:
            register = service.Registration(kind=CarrierKind(kind), home_location=location or "")
        except ValueError as exc:
            kinds = ", ".join(k.value for k in CarrierKind)
            raise fail(f"{kind} is not a media kind ({kinds}).") from exc
        if not location:
            raise fail("To register a new carrier at intake, give --location with --kind.")
    reading = _read(path, carrier, quiet or as_json)
    if not as_json:
        _print_report(reading)
    with transaction() as session:
        intake = service.import_medium(
            session=session,
            principal=SYSTEM,
            label=carrier,
            reading=reading,
            register=register,
            accept_problems=accept_problems,
        )
        public = service.intake_public(session=session, intake=intake)
    if as_json:
        typer.echo(json.dumps({"carrier": public.model_dump(mode="json"), **reading.to_json()}))
    else:
        typer.echo(
            f"Recorded {public.label}: manifest of {public.file_count} files "
            f"(SHA-256 {public.manifest_sha256[:16]}...), retention until "
            f"{public.retention_until or 'unknown'}."
        )


@commands.command("verify")
def verify(
    path: Annotated[Path, typer.Argument(help="Mount point or folder of the medium.")],
    carrier: Annotated[str, typer.Option("--carrier", help="The carrier's label.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    quiet: Annotated[bool, typer.Option(help="No progress on stderr.")] = False,
) -> None:
    """Re-read a medium and compare it with its manifest; exit 1 when it differs."""
    from app.media import service

    reading = _read(path, carrier, quiet or as_json)
    with transaction() as session:
        check, result = service.verify_medium(
            session=session, principal=SYSTEM, label=carrier, reading=reading
        )
        public = service.fixity_public(label=carrier, check=check, result=result)
    if as_json:
        typer.echo(public.model_dump_json())
    else:
        for what, paths in (
            ("missing", public.missing),
            ("changed", public.changed),
            ("unreadable", public.unreadable),
            ("not in the manifest", public.extra),
        ):
            for file_id in paths:
                typer.echo(f"  {what}: {file_id}")
    if not public.ok:
        raise fail(f"{carrier}: {public.summary}")
    if not as_json:
        typer.echo(f"{carrier}: {public.summary}")

