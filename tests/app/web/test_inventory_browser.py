"""The campaign page in Chromium, at desk and phone size, after a sweep ingested through the
service into the running site's database: the map tells a swept shelf from an unswept one (by
word and by colour), fits the screen, and a shelf opens its carriers below the map."""

from __future__ import annotations

import uuid
from datetime import timedelta

from playwright.sync_api import expect
from sqlmodel import col, select

from app.carriers.models import Carrier
from app.core.config import Settings
from app.core.db import make_engine, session_scope
from app.core.principal import Principal, Role
from app.core.time import utcnow
from app.inventory import service as inventory_service
from app.inventory.schemas import CampaignCreate, InventoryRead
from app.locations import service as location_service
from app.tags.models import Tag
from app.users.models import User
from tests.support.browser import DESK, PHONE, NewPage, Site, log_in

WIDER_THAN_SCREEN = "document.documentElement.scrollWidth > document.documentElement.clientWidth"
BACKGROUND = "element => getComputedStyle(element).backgroundColor"


def _sweep_first_shelf(site: Site) -> tuple[int, int]:
    """A campaign over Cabinet 1 of the demo archive: its first shelf swept (every carrier on
    it read, then the next shelf's tag); the campaign's id and the carriers read."""
    engine = make_engine(f"sqlite:///{site.data_dir / 'mediatrack.db'}")
    today = utcnow().date()
    try:
        with session_scope(engine) as session:
            clerk = session.exec(select(User).where(User.username == "clerk")).one()
            principal = Principal(kind="user", id=clerk.id, role=Role.CLERK)
            campaign = inventory_service.create_campaign(
                session=session, principal=principal, campaign_in=CampaignCreate(
                    name="Cabinet 1", scope="CAB01", starts_on=today,
                    ends_on=today + timedelta(days=7)),
            )
            shelf = location_service.get_by_code(session=session, code="CAB01_S1")
            uids = list(session.exec(
                select(Tag.uid).join(Carrier, col(Carrier.tag_id) == col(Tag.id))
                .where(Carrier.current_location_id == shelf.id, Carrier.status == "in_storage")
            ))
            assert uids, "the demo archive has no tagged carrier on CAB01_S1"
            device, start = str(uuid.uuid4()), utcnow() - timedelta(minutes=5)
            subjects = [{"location": "CAB01_S1"}, *({"tag_uid": u} for u in uids),
                        {"location": "CAB01_S2"}]
            reads = [InventoryRead.model_validate({
                "event_id": str(uuid.uuid4()), "session": device, "device": "laptop",
                "read_at": (start + timedelta(seconds=n)).isoformat(), **subject,
            }) for n, subject in enumerate(subjects)]
            inventory_service.ingest(session=session, principal=principal,
                                     campaign_id=campaign.id or 0, reads=reads,
                                     settings=Settings(DATA_DIR=site.data_dir))
            return campaign.id or 0, len(uids)
    finally:
        engine.dispose()


def test_the_map_shows_swept_and_unswept_shelves(site: Site, new_page: NewPage) -> None:
    campaign_id, read = _sweep_first_shelf(site)
    for size in (DESK, PHONE):
        page = new_page(viewport=size)
        log_in(page, site, "clerk", f"/inventory/{campaign_id}")
        page.goto(f"{site.url}/inventory/{campaign_id}")
        swept = page.locator('.shelf-map [data-shelf="CAB01_S1"]')
        unswept = page.locator('.shelf-map [data-shelf="CAB01_S5"]')
        expect(swept).to_have_attribute("data-state", "swept")
        expect(unswept).to_have_attribute("data-state", "not_swept")
        # Said in words too, not by colour alone.
        expect(swept.locator(".shelf-state")).to_have_text("swept")
        expect(unswept.locator(".shelf-state")).to_have_text("not yet swept")
        expect(swept.locator(".shelf-count")).to_have_text(f"{read} of {read} found")
        assert swept.evaluate(BACKGROUND) != unswept.evaluate(BACKGROUND)
        expect(page.locator(".shelf-map .cabinet")).to_have_count(1)
        expect(page.locator(".shelf-map a.shelf")).to_have_count(5)
        assert not page.evaluate(WIDER_THAN_SCREEN), f"wider than the screen at {size}"
        box = unswept.bounding_box()
        assert box is not None and box["x"] + box["width"] <= size["width"]
        swept.click()
        expect(page.locator("#shelf-title")).to_have_attribute("data-shelf", "CAB01_S1")
        expect(page.locator('#shelf-detail [data-class="found"]')).to_have_count(read)
