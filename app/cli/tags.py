"""``mediatrack label``: write a carrier's label onto a tag (readers/labelling.py does it)."""

from __future__ import annotations

import typer

from app.cli.common import PASS_THROUGH

commands = typer.Typer()


@commands.command("label", context_settings=PASS_THROUGH)
def label_tag(ctx: typer.Context) -> None:
    """Write a carrier's label onto the tag on the reader, check it, then bind it (see --help)."""
    from readers.labelling import main as labelling_main

    raise typer.Exit(code=labelling_main(ctx.args))
