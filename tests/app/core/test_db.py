"""app.core.db: how engines connect."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from app.core.db import make_engine


@pytest.mark.postgres
def test_a_postgresql_session_runs_in_utc_and_keeps_the_urls_own_options(db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("a PostgreSQL session setting")
    # A site's own libpq options in the URL (here a search_path) survive the UTC setting.
    url = make_url(db_url).update_query_dict({"options": "-c search_path=pg_catalog,public"})
    engine = make_engine(url.render_as_string(hide_password=False))
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SHOW TimeZone")).scalar() == "UTC"
            assert conn.execute(text("SHOW search_path")).scalar() == "pg_catalog,public"
    finally:
        engine.dispose()
