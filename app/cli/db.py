"""``mediatrack db``: the database schema."""

from __future__ import annotations

import typer

from app.core.config import Settings
from app.core.db import make_engine

db_cli = typer.Typer(help="Database schema.", no_args_is_help=True)


@db_cli.command("upgrade")
def db_upgrade() -> None:
    """Create or upgrade the schema on MEDIATRACK_DATABASE_URL."""
    from app.core.migrations import current_revision, upgrade

    settings = Settings()
    engine = make_engine(settings.database_url)
    upgrade(engine)
    typer.echo(f"Schema at revision {current_revision(engine)}.")
    engine.dispose()
