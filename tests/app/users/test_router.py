"""Staff accounts administered through the API."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.factories import World


def test_the_last_active_admin_cannot_be_deactivated(client: TestClient, world: World) -> None:
    admin = world.auth("admin")
    r = client.post("/api/v1/users/admin2/deactivate", headers=admin)
    assert r.status_code == 200 and r.json()["active"] is False
    r = client.post("/api/v1/users/admin/deactivate", headers=admin)
    assert r.status_code == 409
    assert "last active administrator" in r.json()["detail"]
