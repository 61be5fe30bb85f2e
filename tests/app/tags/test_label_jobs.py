"""Label jobs on both databases: the desk's "register this carrier" asks its station to write
the label; the station fetches the signed NDEF message and reports what the tag kept."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.core.config import Settings
from readers.carrier_label import LabelCheck, decode_label
from tests.app.web.test_pages import _log_in
from tests.conftest import SECRET
from tests.factories import World

JOBS = "/api/v1/tags/label-jobs"
KEYS = {1: bytes(range(32)), 2: bytes(range(32, 64))}
NEW_UID = "04AABBCCDDEE80"


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    keys = tmp_path / "site.keys"
    keys.write_text("".join(f"{n} {key.hex()}\n" for n, key in KEYS.items()))
    # An http public URL: on an https one the session cookie is Secure, and TestClient speaks http.
    return Settings(DATA_DIR=tmp_path / "data", DATABASE_URL=db_url, SECRET_KEY=SECRET,
                    SITE_KEYS_FILE=keys, PUBLIC_URL="http://archive.example")


@pytest.fixture
def desk(client: TestClient, world: World) -> TestClient:
    """A clerk's browser bound to station desk-1, its CSRF token sent with every request."""
    token = _log_in(client, "clerk")
    client.headers["X-CSRF-Token"] = token
    client.cookies.set("mediatrack_desk", "desk-1")
    return client


def _register(desk: TestClient, label: str = "NEW0001", *, tapped: bool = True) -> str:
    form = {"uid": NEW_UID, "technology": "iso14443a", "label": label, "kind": "BD",
            "location": "SHELF1"}
    if tapped:
        form["tapped"] = "true"
    r = desk.post("/desk/register", data=form)
    assert r.status_code == 200, r.text
    return r.text


def _job_id(page: str) -> int:
    found = re.search(r'hx-get="/desk/label-jobs/(\d+)"', page)
    assert found is not None, page
    return int(found.group(1))


def _jobs(client: TestClient, key: str) -> list[dict[str, object]]:
    r = client.get(JOBS, headers={"X-API-Key": key})
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert isinstance(data, list)
    return data


class TestLabelJobs:
    def test_a_tapped_tag_registered_at_the_desk_is_labelled_by_its_station(
        self, desk: TestClient, world: World
    ) -> None:
        page = _register(desk)
        assert "leave it on the reader" in page
        job_id = _job_id(page)
        assert _jobs(desk, world.other_station_key) == []  # another desk's station: nothing
        [job] = _jobs(desk, world.station_key)
        assert (job["id"], job["tag_uid"], job["label"]) == (job_id, NEW_UID, "NEW0001")
        reading = decode_label(bytes.fromhex(str(job["ndef"])), uid=NEW_UID, keys=KEYS)
        assert reading.check is LabelCheck.GENUINE
        assert reading.uri == "http://archive.example/c/NEW0001"
        assert reading.carrier is not None and reading.carrier.kind == "BD"

        r = desk.post(f"{JOBS}/{job_id}", json={"written": True},
                      headers={"X-API-Key": world.station_key})
        assert r.json() == {"id": job_id, "label": "NEW0001", "state": "written", "reason": None}
        assert _jobs(desk, world.station_key) == []
        assert "Label written on the tag" in desk.get(f"/desk/label-jobs/{job_id}").text
        # A retried report changes nothing; another station cannot report on it.
        again = desk.post(f"{JOBS}/{job_id}", json={"written": False, "reason": "late"},
                          headers={"X-API-Key": world.station_key})
        assert again.json()["state"] == "written"
        other = desk.post(f"{JOBS}/{job_id}", json={"written": True},
                          headers={"X-API-Key": world.other_station_key})
        assert other.status_code == 404

    def test_a_failed_write_is_shown_and_can_be_asked_again(
        self, desk: TestClient, world: World
    ) -> None:
        job_id = _job_id(_register(desk))
        r = desk.post(f"{JOBS}/{job_id}", json={"written": False, "reason": "The tag was lifted."},
                      headers={"X-API-Key": world.station_key})
        assert r.json()["state"] == "failed"
        status = desk.get(f"/desk/label-jobs/{job_id}").text
        assert "The label was not written: The tag was lifted." in status
        # A station's own reason is shown as it sent it, in a Chinese page too.
        chinese = desk.get(f"/desk/label-jobs/{job_id}", headers={"Accept-Language": "zh-CN"})
        assert "：The tag was lifted." in chinese.text
        assert 'action="/desk/carriers/NEW0001/label"' in status
        assert "hx-trigger" not in status  # no more asking

        retry = desk.post("/desk/carriers/NEW0001/label")
        new_id = _job_id(retry.text)
        assert new_id != job_id
        assert [j["id"] for j in _jobs(desk, world.station_key)] == [new_id]

    def test_a_newer_ask_ends_the_waiting_one(self, desk: TestClient, world: World) -> None:
        first = _job_id(_register(desk))
        second = _job_id(desk.post("/desk/carriers/NEW0001/label").text)
        assert [j["id"] for j in _jobs(desk, world.station_key)] == [second]
        assert "A newer label was asked for." in desk.get(f"/desk/label-jobs/{first}").text
        # The stored reason is English; the desk says it in its language.
        chinese = desk.get(f"/desk/label-jobs/{first}", headers={"Accept-Language": "zh-CN"})
        assert "标签信息未写入：已要求写入更新的标签信息。" in chinese.text

    def test_a_tag_taken_off_before_the_station_asks_is_not_written(
        self, desk: TestClient, world: World
    ) -> None:
        job_id = _job_id(_register(desk))
        r = desk.delete("/api/v1/carriers/NEW0001/tag", headers=world.auth("clerk"))
        assert r.status_code == 200, r.text
        assert _jobs(desk, world.station_key) == []
        assert "taken off its carrier" in desk.get(f"/desk/label-jobs/{job_id}").text

    def test_a_typed_uid_is_registered_without_a_label_job(
        self, desk: TestClient, world: World
    ) -> None:
        page = _register(desk, tapped=False)
        assert "Registered." in page and "label-jobs" not in page
        assert _jobs(desk, world.station_key) == []

    def test_without_a_site_key_the_desk_says_why_the_tag_is_not_labelled(
        self, desk: TestClient, world: World, settings: Settings
    ) -> None:
        settings.SITE_KEYS_FILE = None
        page = _register(desk)
        assert "no site key to sign labels with" in page and "label-jobs" not in page
        assert _jobs(desk, world.station_key) == []

    def test_only_a_station_fetches_jobs_and_a_report_is_checked(
        self, desk: TestClient, world: World
    ) -> None:
        job_id = _job_id(_register(desk))
        assert desk.get(JOBS, headers=world.auth("clerk")).status_code == 403
        long = desk.post(f"{JOBS}/{job_id}", json={"written": False, "reason": "x" * 201},
                         headers={"X-API-Key": world.station_key})
        assert long.status_code == 422
        assert desk.post(f"{JOBS}/999999", json={"written": True},
                         headers={"X-API-Key": world.station_key}).status_code == 404
        assert [j["id"] for j in _jobs(desk, world.station_key)] == [job_id]  # still waiting
