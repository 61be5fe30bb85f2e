"""The inventory pages through the ASGI app on both databases: who sees them, a campaign started
through the form, a sweep ingested through the service and shown on the map, resolutions and
the close through the pages, the downloads, and the carrier page's campaigns."""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlmodel import select

from app.carriers import service as carrier_service
from app.carriers.schemas import CarrierCreate, CarrierKind
from app.core.config import Settings
from app.core.db import session_scope
from app.core.principal import SYSTEM, Principal, Role
from app.core.time import utcnow
from app.custody import schemas as custody_schemas
from app.custody import service as custody_service
from app.inventory import service as inventory_service
from app.inventory.schemas import CampaignCreate, InventoryRead
from app.locations import service as location_service
from app.locations.schemas import LocationCreate, LocationKind
from app.tags import service as tag_service
from app.tags.schemas import TagBind
from app.users.models import User
from tests.app.web.test_pages import _log_in
from tests.factories import World, site_today, tag_uid

CLASSES = ("found", "misplaced", "unexpected", "unknown", "not_seen")
UNKNOWN_UID = "04DEADBEEF0080"


@dataclass
class Sweep:
    """A campaign over the Archive after one person swept Shelf 1 and Shelf 2 (Shelf 3 not)."""

    campaign_id: int
    found: str  # on Shelf 1, read there (twice: it counts once)
    misplaced: str  # belongs on Shelf 1, read on Shelf 2
    not_seen: str  # belongs on Shelf 1, not read
    unswept: str  # belongs on Shelf 3, which nobody swept
    lent: str  # lent out, yet read on Shelf 1


def _clerk(engine: Engine) -> Principal:
    with session_scope(engine) as session:
        user = session.exec(select(User).where(User.username == "clerk")).one()
        return Principal(kind="user", id=user.id, role=Role.CLERK)


def _carrier_on(engine: Engine, label: str, n: int, shelf: str) -> str:
    with session_scope(engine) as session:
        carrier_service.register(session=session, principal=SYSTEM, carrier_in=CarrierCreate(
            label=label, kind=CarrierKind.DVD, home_location=shelf))
        tag_service.bind(session=session, principal=SYSTEM, label=label,
                         bind_in=TagBind(tag_uid=tag_uid(n)))
        custody_service.store(session=session, principal=SYSTEM, label=label,
                              store_in=custody_schemas.Store(location=shelf), today=site_today())
    return label


def _campaign(engine: Engine, principal: Principal, name: str = "Archive 2026") -> int:
    today = utcnow().date()
    with session_scope(engine) as session:
        campaign = inventory_service.create_campaign(
            session=session, principal=principal, campaign_in=CampaignCreate(
                name=name, scope="ARCH", starts_on=today, ends_on=today + timedelta(days=7)),
        )
        assert campaign.id is not None
        return campaign.id


@pytest.fixture
def sweep(engine: Engine, settings: Settings, world: World) -> Sweep:
    found, misplaced, not_seen = world.labels  # all three on Shelf 1 (tests/factories.py)
    with session_scope(engine) as session:
        location_service.create(session=session, location_in=LocationCreate(
            code="SHELF3", name="Shelf 3", kind=LocationKind.SHELF, parent="ARCH"), by=SYSTEM)
    unswept = _carrier_on(engine, "RAD0000004", 4, "SHELF3")
    lent = _carrier_on(engine, "RAD0000005", 5, "SHELF1")
    with session_scope(engine) as session:
        custody_service.check_out(
            session=session, principal=SYSTEM, label=lent, settings=settings,
            today=site_today(settings),
            checkout_in=custody_schemas.CheckOut(borrower_id=world.borrower_id, purpose="TREAT"),
        )
    clerk = _clerk(engine)
    campaign_id = _campaign(engine, clerk)
    device = uuid.uuid4()
    start = utcnow() - timedelta(minutes=5)  # recent: the session is still on Shelf 2
    subjects = [
        {"location": "SHELF1"},
        {"tag_uid": tag_uid(1)},
        {"tag_uid": tag_uid(1)},  # the same tag again: a duplicate
        {"tag_uid": tag_uid(5)},
        {"tag_uid": UNKNOWN_UID},
        {"location": "SHELF2"},
        {"tag_uid": tag_uid(2)},
    ]
    reads = [
        InventoryRead.model_validate({
            "event_id": str(uuid.uuid4()), "session": str(device), "device": "laptop",
            "read_at": (start + timedelta(seconds=n)).isoformat(), **subject,
        })
        for n, subject in enumerate(subjects)
    ]
    with session_scope(engine) as session:
        inventory_service.ingest(session=session, principal=clerk, campaign_id=campaign_id,
                                 reads=reads, settings=settings)
    return Sweep(campaign_id, found, misplaced, not_seen, unswept, lent)


def _counts(html: str) -> dict[str, int]:
    """The counts the campaign page shows, per class."""
    found = re.findall(r'data-class="(\w+)"><span class="count">(\d+)</span>', html)
    return {cls: int(n) for cls, n in found}


def _shelf_states(html: str) -> dict[str, str]:
    return dict(re.findall(r'data-shelf="(\w+)" data-state="(\w+)"', html))


def _status(engine: Engine, label: str) -> str:
    with engine.connect() as conn:
        status = conn.execute(text("SELECT status FROM carrier WHERE label = :label"),
                              {"label": label}).scalar_one()
    return str(status)


class TestWhoSeesWhat:
    @pytest.mark.parametrize("role", ["clerk", "admin", "auditor"])
    def test_readers_see_every_page(self, client: TestClient, sweep: Sweep, role: str) -> None:
        _log_in(client, role)
        base = f"/inventory/{sweep.campaign_id}"
        for path in ("/inventory", base, f"{base}/progress", f"{base}/shelves/SHELF1",
                     f"{base}/report", f"{base}/report.csv", f"{base}/report.json"):
            assert client.get(path).status_code == 200, (role, path)
        page = client.get(base).text
        manages = role != "auditor"
        assert ('action="/inventory"' in client.get("/inventory").text) is manages
        assert (f'action="{base}/close"' in page) is manages
        assert ('name="action" value="return"' in client.get(f"{base}/shelves/SHELF1").text) \
            is manages
        assert 'href="/inventory"' in page  # the navigation names it

    def test_a_clinician_is_refused(self, client: TestClient, sweep: Sweep,
                                    engine: Engine) -> None:
        token = _log_in(client, "clinician")
        base = f"/inventory/{sweep.campaign_id}"
        for path in ("/inventory", base, f"{base}/shelves/SHELF1", f"{base}/report",
                     f"{base}/report.csv", f"{base}/report.json"):
            assert client.get(path).status_code == 403, path
        r = client.post(f"{base}/close", data={"csrf_token": token, "report_missing": "true"})
        assert r.status_code == 403
        assert 'href="/inventory"' not in client.get("/where").text
        assert _status(engine, sweep.not_seen) == "in_storage"

    def test_an_auditor_may_not_close_or_resolve(self, client: TestClient, sweep: Sweep) -> None:
        token = _log_in(client, "auditor")
        base = f"/inventory/{sweep.campaign_id}"
        r = client.post(f"{base}/resolve", data={"label": sweep.misplaced, "action": "put_back"},
                        headers={"X-CSRF-Token": token, "HX-Request": "true"})
        assert r.status_code == 403
        assert client.post(f"{base}/close", data={"csrf_token": token}).status_code == 403

    def test_a_post_needs_the_csrf_token(self, client: TestClient, sweep: Sweep) -> None:
        _log_in(client, "clerk")
        r = client.post(f"/inventory/{sweep.campaign_id}/close", data={"report_missing": "true"})
        assert r.status_code == 403


def test_a_campaign_started_through_the_form(client: TestClient, world: World) -> None:
    token = _log_in(client, "clerk")
    form = client.get("/inventory").text
    today = site_today()  # the form proposes the site's day
    assert '<option value="ARCH">City Hospital / Archive</option>' in form
    assert 'value="DESK"' not in form  # a desk is no place to sweep
    assert f'value="{today.isoformat()}"' in form
    assert f'value="{(today + timedelta(days=14)).isoformat()}"' in form
    fields = {"name": "Basement <B1>", "scope": "NOWHERE", "starts_on": today.isoformat(),
              "ends_on": (today + timedelta(days=3)).isoformat(), "csrf_token": token}
    r = client.post("/inventory", data=fields)
    # The form again, filled in as sent, with the service's sentence.
    assert r.status_code >= 400 and 'class="flash error"' in r.text, r.text
    assert "There is no location with that code." in r.text
    assert 'value="Basement &lt;B1&gt;"' in r.text
    r = client.post("/inventory", data={**fields, "scope": "ARCH", "starts_on": "28.11.2026"})
    assert r.status_code == 422 and "starts_on" in r.text
    assert 'value="Basement &lt;B1&gt;"' in r.text
    r = client.post("/inventory", data={**fields, "scope": "ARCH"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    target = r.headers["location"]
    assert re.fullmatch(r"/inventory/\d+", target)
    page = client.get(target).text
    assert "The campaign Basement &lt;B1&gt; is started." in page
    assert "City Hospital / Archive" in page and "<B1>" not in page
    listing = client.get("/inventory").text
    assert f'href="{target}">Basement &lt;B1&gt;</a>' in listing


class TestCampaignPage:
    def test_the_map_and_the_counts_show_the_sweep(self, client: TestClient,
                                                   sweep: Sweep) -> None:
        _log_in(client, "clerk")
        page = client.get(f"/inventory/{sweep.campaign_id}").text
        states = _shelf_states(page)
        assert states["SHELF1"] == "swept"
        assert states["SHELF3"] == "not_swept"
        assert "SHELF2" in states and states["SHELF2"] != "not_swept"
        # One found (the duplicate counts once), one misplaced, one lent, one unknown tag, one
        # not seen on a swept shelf; the carrier of the unswept shelf is not "not seen".
        assert _counts(page) == {"found": 1, "misplaced": 1, "unexpected": 1, "unknown": 1,
                                 "not_seen": 1}
        assert 'hx-trigger="every 10s"' in page  # open: the map follows the sweep
        assert UNKNOWN_UID in page and 'href="/desk"' in page
        assert f'href="/inventory/{sweep.campaign_id}/phone"' in page
        assert client.get(f"/inventory/{sweep.campaign_id}/progress").text.count(
            'class="shelf state-') == len(states)

    def test_a_shelf_lists_its_carriers_and_what_may_settle_them(
        self, client: TestClient, sweep: Sweep
    ) -> None:
        _log_in(client, "clerk")
        shelf = client.get(f"/inventory/{sweep.campaign_id}/shelves/SHELF1").text
        classes = dict(re.findall(r'data-item="(\w+)" data-class="(\w+)"', shelf))
        assert classes[sweep.found] == "found"
        assert classes[sweep.not_seen] == "not_seen"
        assert classes[sweep.lent] == "unexpected"
        assert sweep.unswept not in classes
        lent_row = shelf.split(f'id="item-{sweep.lent}"')[1].split("</tr>")[0]
        assert 'value="return"' in lent_row and "Take it back from loan" in lent_row
        other = client.get(f"/inventory/{sweep.campaign_id}/shelves/SHELF2").text
        row = other.split(f'id="item-{sweep.misplaced}"')[1].split("</tr>")[0]
        assert 'value="put_back"' in row and 'value="new_home"' in row
        # Without JavaScript the same detail comes with the page.
        page = client.get(f"/inventory/{sweep.campaign_id}?shelf=SHELF2").text
        assert f'id="item-{sweep.misplaced}"' in page
        assert client.get(f"/inventory/{sweep.campaign_id}/shelves/VAULT").status_code == 404

    def test_in_chinese(self, client: TestClient, sweep: Sweep) -> None:
        client.cookies.set("mediatrack_lang", "zh_CN")
        _log_in(client, "clerk")
        page = client.get(f"/inventory/{sweep.campaign_id}").text
        assert "货架图" in page and "已盘点" in page and "尚未盘点" in page
        assert "盘点任务" in client.get("/inventory").text


class TestResolveAndClose:
    def test_resolve_answers_the_row_and_logs_the_custody_action(
        self, client: TestClient, sweep: Sweep, engine: Engine
    ) -> None:
        token = _log_in(client, "clerk")
        base = f"/inventory/{sweep.campaign_id}"
        # Without JavaScript: a plain form, back to the campaign, which says what was done.
        r = client.post(f"{base}/resolve", data={"label": sweep.misplaced, "action": "put_back",
                                                 "csrf_token": token}, follow_redirects=False)
        assert (r.status_code, r.headers["location"]) == (303, base), r.text
        assert f"{sweep.misplaced}: put back on its shelf." in client.get(base).text
        # With htmx: the item's row comes back, settled.
        htmx = {"X-CSRF-Token": token, "HX-Request": "true"}
        r = client.post(f"{base}/resolve", data={"label": sweep.lent, "action": "return"},
                        headers=htmx)
        assert r.status_code == 200, r.text
        assert r.text.lstrip().startswith(f'<tr id="item-{sweep.lent}"')
        assert "taken back from loan" in r.text and 'name="action"' not in r.text
        assert _status(engine, sweep.lent) == "in_storage"
        with engine.connect() as conn:
            payloads = conn.execute(text(
                "SELECT e.action, e.payload FROM custody_event e JOIN carrier c "
                "ON c.id = e.carrier_id WHERE c.label IN (:a, :b) ORDER BY e.seq"
            ), {"a": sweep.misplaced, "b": sweep.lent}).all()
        logged = [a for a, p in payloads if json.loads(p).get("campaign_id") == sweep.campaign_id]
        assert logged == ["store", "return"]
        # A correction the item does not allow: the row again, with the reason.
        r = client.post(f"{base}/resolve", data={"label": sweep.found, "action": "receive"},
                        headers=htmx)
        assert r.status_code == 200 and 'class="flash error"' in r.text
        assert r.text.lstrip().startswith(f'<tr id="item-{sweep.found}"')

    def test_close_reports_missing_only_what_was_swept(
        self, client: TestClient, sweep: Sweep, engine: Engine
    ) -> None:
        token = _log_in(client, "clerk")
        base = f"/inventory/{sweep.campaign_id}"
        page = client.get(base).text
        assert "Only shelves that were swept count" in page
        r = client.post(f"{base}/close", data={"csrf_token": token, "report_missing": "true"},
                        follow_redirects=False)
        assert (r.status_code, r.headers["location"]) == (303, base)
        page = client.get(base).text
        assert f"Reported missing: {sweep.not_seen}." in page
        assert _status(engine, sweep.not_seen) == "missing"
        assert _status(engine, sweep.unswept) == "in_storage"
        assert _status(engine, sweep.found) == "in_storage"
        # Closed: no more polling, closing or settling.
        assert 'hx-trigger="every 10s"' not in page and f'action="{base}/close"' not in page
        assert 'name="action"' not in client.get(f"{base}/shelves/SHELF2").text
        with engine.connect() as conn:
            closed = conn.execute(text(
                "SELECT payload FROM custody_event WHERE action = 'inventory_closed'"
            )).scalars().all()
        assert [json.loads(p)["campaign_id"] for p in closed] == [sweep.campaign_id]
        r = client.post(f"{base}/close", data={"csrf_token": token})
        assert r.status_code >= 400  # closed once only

    def test_close_without_reporting_leaves_every_carrier_alone(
        self, client: TestClient, sweep: Sweep, engine: Engine
    ) -> None:
        token = _log_in(client, "clerk")
        r = client.post(f"/inventory/{sweep.campaign_id}/close", data={"csrf_token": token})
        assert r.status_code == 200  # followed to the campaign page
        assert "Reported missing" not in r.text
        assert _status(engine, sweep.not_seen) == "in_storage"


def test_the_downloads_match_the_page(client: TestClient, sweep: Sweep) -> None:
    _log_in(client, "clerk")
    base = f"/inventory/{sweep.campaign_id}"
    shown = _counts(client.get(base).text)
    r = client.get(f"{base}/report.json")
    assert r.headers["content-type"].startswith("application/json")
    assert re.search(r'attachment; filename="inventory-\d+-[\d-]+\.json"',
                     r.headers["content-disposition"])
    report = r.json()
    assert {c: report["campaign"]["counts"].get(c, 0) for c in CLASSES} == shown
    per_item = Counter(i["class"] for s in report["shelves"] for i in s["items"])
    assert {c: per_item[c] for c in CLASSES if c != "unknown"} == {
        c: n for c, n in shown.items() if c != "unknown"}
    assert len(report["unknown"]) == shown["unknown"]
    r = client.get(f"{base}/report.csv")
    assert r.headers["content-type"].startswith("text/csv")
    assert re.search(r'attachment; filename="inventory-\d+-[\d-]+\.csv"',
                     r.headers["content-disposition"])
    rows = list(csv.DictReader(io.StringIO(r.text)))
    column = next(k for k in rows[0] if k.lower() in ("class", "read_class"))
    by_class = Counter(row[column] for row in rows)
    assert {c: by_class[c] for c in CLASSES} == shown
    sheet = client.get(f"{base}/report").text
    assert "data-print" in sheet and "City Hospital / Archive / Shelf 1" in sheet
    assert dict(re.findall(r'<dd data-class="(\w+)">(\d+)</dd>', sheet)) == {
        c: str(n) for c, n in shown.items()}


def test_the_carrier_page_lists_the_campaigns_that_saw_it(
    client: TestClient, sweep: Sweep
) -> None:
    _log_in(client, "clerk")
    page = client.get(f"/carriers/{sweep.misplaced}").text
    assert "Inventory campaigns that saw it" in page
    row = page.split(f'data-campaign="{sweep.campaign_id}"')[1].split("</tr>")[0]
    assert f'href="/inventory/{sweep.campaign_id}">Archive 2026</a>' in row
    assert "City Hospital / Archive / Shelf 2" in row and "misplaced" in row
    assert "No inventory campaign has seen this carrier." in client.get(
        f"/carriers/{sweep.unswept}").text
    client.cookies.clear()
    _log_in(client, "clinician")
    assert "Inventory campaigns that saw it" not in client.get(
        f"/carriers/{sweep.misplaced}").text
