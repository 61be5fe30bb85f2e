"""``mediatrack serve`` and ``mediatrack demo``: run the service, load the demo archive."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from app.cli.common import fail, transaction
from app.core.config import Settings

commands = typer.Typer()


@commands.command()
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


@commands.command()
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
