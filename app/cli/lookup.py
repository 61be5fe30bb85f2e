"""``mediatrack where``: where is it?"""

from __future__ import annotations

from typing import Annotated

import typer

from app.cli.common import fail, transaction
from app.core.config import Settings
from app.core.principal import SYSTEM
from app.core.time import local_today

commands = typer.Typer()


@commands.command()
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
            today=local_today(settings.zone),
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
