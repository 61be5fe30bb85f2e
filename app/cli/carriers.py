"""``mediatrack carrier``: carriers."""

from __future__ import annotations

from typing import Annotated

import typer
from pydantic import ValidationError

from app.cli.common import fail, problems, transaction
from app.core.principal import SYSTEM

carrier_cli = typer.Typer(help="Carriers.", no_args_is_help=True)


@carrier_cli.command("register")
def carrier_register(
    label: str,
    kind: Annotated[str, typer.Option(help="CD, DVD, BD, M-DISC, LTO-5 ... LTO-10")],
    location: Annotated[str, typer.Option(help="Code of its home location.")],
) -> None:
    """Register a carrier at its home location."""
    from app.carriers import service
    from app.carriers.schemas import CarrierCreate

    try:
        carrier_in = CarrierCreate.model_validate(
            {"label": label, "kind": kind, "home_location": location}
        )
    except ValidationError as exc:
        raise fail(f"Cannot register {label}: {problems(exc)}.") from exc
    with transaction() as session:
        carrier = service.register(session=session, principal=SYSTEM, carrier_in=carrier_in)
        typer.echo(f"Registered {service.name(carrier)}.")
