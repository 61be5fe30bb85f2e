"""``mediatrack serve`` and ``mediatrack demo``: run the service, load the demo archive."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.engine import make_url

from app.cli.common import fail, transaction
from app.core.config import Settings

commands = typer.Typer()


@commands.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    certfile: Annotated[
        Path | None,
        typer.Option(help="Serve https with this PEM certificate (and its chain). "
                     "Default: MEDIATRACK_TLS_CERT_FILE."),
    ] = None,
    keyfile: Annotated[
        Path | None,
        typer.Option(help="The certificate's PEM private key. Default: MEDIATRACK_TLS_KEY_FILE."),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(min=1, help="Processes serving requests (PostgreSQL only; SQLite is "
                     "served by one process)."),
    ] = 1,
) -> None:
    """Start the service on MEDIATRACK_DATABASE_URL (default: the embedded SQLite file)."""
    import uvicorn

    from app.core.db import make_engine
    from app.core.migrations import upgrade

    settings = Settings()
    certfile = certfile or settings.TLS_CERT_FILE
    keyfile = keyfile or settings.TLS_KEY_FILE
    _check_tls(certfile, keyfile)
    if workers > 1 and make_url(settings.database_url).get_backend_name() != "postgresql":
        # Several processes would each hear only their own scans (SQLite announces a commit
        # inside the process) and queue for the file's one write lock.
        raise fail(f"--workers {workers} needs PostgreSQL: SQLite is served by one process. "
                   "Leave --workers out, or set MEDIATRACK_DATABASE_URL to a PostgreSQL database.")
    if settings.is_embedded_sqlite:
        engine = make_engine(settings.database_url, busy_timeout_ms=settings.SQLITE_BUSY_TIMEOUT_MS)
        upgrade(engine)
        engine.dispose()
    scheme = "https" if certfile else "http"
    typer.echo(f"MediaTrack on {scheme}://{host}:{port} (API docs at /docs)")
    # A factory by its import string: uvicorn starts it in each worker process, where
    # create_app() reads the same MEDIATRACK_* environment as this process did.
    uvicorn.run("app.main:served_app", factory=True, workers=workers, host=host, port=port,
                log_level="info", ssl_certfile=certfile, ssl_keyfile=keyfile)


def _check_tls(certfile: Path | None, keyfile: Path | None) -> None:
    """Both files or neither, and a key that belongs to the certificate: said in a sentence
    before starting, rather than as uvicorn's traceback. An encrypted key is refused (an empty
    pass phrase) instead of a prompt on the terminal of a server started unattended."""
    if certfile is None and keyfile is None:
        return
    if certfile is None or keyfile is None:
        raise fail("https needs both a certificate (--certfile) and its key (--keyfile); "
                   "give both, or neither to serve http.")
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(certfile, keyfile, b"")
    except OSError as exc:  # ssl.SSLError is an OSError too
        raise fail(f"Cannot use {certfile} with {keyfile} for https: a file is missing or "
                   "not PEM, the key is encrypted, or it is not the certificate's key.") from exc


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
