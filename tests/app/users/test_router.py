"""Staff accounts administered through the API."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from app.core.db import session_scope
from app.core.errors import ConflictError, InvalidInputError
from app.core.principal import Principal, Role
from app.users import service
from tests.factories import World


def test_the_last_active_admin_cannot_be_deactivated(client: TestClient, world: World) -> None:
    admin = world.auth("admin")
    r = client.post("/api/v1/users/admin2/deactivate", headers=admin)
    assert r.status_code == 200 and r.json()["active"] is False
    r = client.post("/api/v1/users/admin/deactivate", headers=admin)
    assert r.status_code == 409
    assert "last active administrator" in r.json()["detail"]


def test_an_admin_cannot_deactivate_themself(client: TestClient, world: World) -> None:
    """Another administrator exists (admin2), yet one's own account is refused."""
    r = client.post("/api/v1/users/admin/deactivate", headers=world.auth("admin"))
    assert r.status_code == 409
    assert "your own account" in r.json()["detail"]
    users = client.get("/api/v1/users", headers=world.auth("admin")).json()["data"]
    assert next(u for u in users if u["username"] == "admin")["active"] is True


def test_role_changes_keep_an_admin(engine: Engine, world: World) -> None:
    with session_scope(engine) as session:
        admin = service.get_by_username(session=session, username="admin")
        me = Principal(kind="user", id=admin.id, role=Role.ADMIN)
        changed = service.change_role(session=session, username="clerk", role=Role.CLINICIAN,
                                      by=me)
        assert changed.role == "clinician"
        with pytest.raises(ConflictError, match="your own role"):
            service.change_role(session=session, username="admin", role=Role.CLERK, by=me)
        service.change_role(session=session, username="admin2", role=Role.AUDITOR, by=me)
        with pytest.raises(ConflictError, match="last active administrator"):
            service.change_role(session=session, username="admin", role=Role.CLERK, by=me)
        with pytest.raises(InvalidInputError):
            service.change_role(session=session, username="clerk", role=Role.STATION, by=me)
