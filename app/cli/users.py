"""``mediatrack user``: staff accounts."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from pydantic import ValidationError

from app.cli.common import fail, problems, transaction
from app.core.principal import SYSTEM

user_cli = typer.Typer(help="Staff accounts.", no_args_is_help=True)


@user_cli.command("create")
def user_create(
    username: str,
    role: Annotated[str, typer.Option(help="clerk, clinician, auditor or admin")],
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    password_stdin: Annotated[bool, typer.Option(help="Read the password from stdin.")] = False,
) -> None:
    """Create a member of staff (this is how the first admin is made)."""
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
        raise fail(f"Cannot create that user: {problems(exc)}.") from exc
    with transaction() as session:
        user = service.create(session=session, user_in=user_in, by=SYSTEM)
        typer.echo(f"Created {user.role} {user.username}.")
