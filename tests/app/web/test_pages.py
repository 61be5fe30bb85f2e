"""The pages through the ASGI app on both databases: catalogs, escaping, sessions, CSRF."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from app.core.config import Settings
from app.core.db import session_scope
from app.core.principal import SYSTEM
from app.custody import schemas as custody_schemas
from app.custody import service as custody_service
from app.web import i18n
from app.web.translations.update import extracted
from tests.factories import PASSWORD, World, site_today, study_in
from tests.support.statements import counting

NASTY = "<script>alert('x')</script>\"&"


def _log_in(client: TestClient, username: str) -> str:
    """Log in through the form; the session's CSRF token."""
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    r = client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "csrf_token": token.group(1)},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    desk = client.get("/where")
    meta = re.search(r'name="csrf-token" content="([^"]+)"', desk.text)
    assert meta is not None
    return meta.group(1)


def _fields(text: str) -> set[str]:
    """The %(name)s placeholders and the names of the {name} fields of an error template."""
    return set(re.findall(r"%\(\w+\)[sd]", text)) | set(re.findall(r"(?<!\{)\{(\w+)", text))


def test_every_message_is_translated_to_chinese() -> None:
    catalog = i18n.catalog("zh_CN")
    with i18n.using("zh_CN"):
        for message in extracted():
            if not message.id:
                continue
            ids = message.id if isinstance(message.id, tuple) else (message.id,)
            if len(ids) == 2:
                text = catalog.ngettext(ids[0], ids[1], 2)
            elif message.context:
                text = catalog.pgettext(message.context, ids[0])
            else:
                text = catalog.gettext(ids[0])
            words = re.sub(r"\{\w+[^}]*\}", "", ids[-1])  # a template's fields are no words
            assert text != ids[-1] or not re.search("[A-Za-z]{3}", words), ids[0]
            assert _fields(text) == _fields(ids[-1]), ids[0]


@pytest.mark.parametrize(
    ("locale", "shown"), [("en", "Dec 7, 2026 17:30"), ("zh_CN", "2026年12月7日 17:30")]
)
def test_a_moment_spells_out_its_month_on_a_24_hour_clock(locale: str, shown: str) -> None:
    # A numeric short date ("12/7/26") reads as 12 July in most of the world.
    with i18n.using(locale):
        assert i18n.format_moment(datetime(2026, 12, 7, 17, 30)) == shown


@pytest.fixture
def clerk(client: TestClient, world: World) -> Iterator[tuple[TestClient, str]]:
    yield client, _log_in(client, "clerk")


class TestSession:
    def test_pages_need_a_log_in(self, client: TestClient, world: World) -> None:
        r = client.get("/desk", follow_redirects=False)
        assert (r.status_code, r.headers["location"]) == (303, "/login?next=/desk")
        r = client.get("/desk", headers={"HX-Request": "true"}, follow_redirects=False)
        assert (r.status_code, r.headers["HX-Redirect"]) == (401, "/login?next=/desk")

    def test_the_cookie_is_strict_and_http_only(self, client: TestClient, world: World) -> None:
        _log_in(client, "clerk")
        cookie = client.get("/where").headers["set-cookie"]
        assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
        assert "secure" not in cookie.lower()  # the test's public URL is http

    def test_idle_sessions_end(
        self, client: TestClient, world: World, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        _log_in(client, "clerk")
        assert client.get("/where", follow_redirects=False).status_code == 200
        later = time.time() + 16 * 60  # the default idle timeout is 15 minutes
        monkeypatch.setattr("app.web.security.time.time", lambda: later)
        r = client.get("/where", follow_redirects=False)
        assert (r.status_code, r.headers["location"]) == (303, "/login?expired=1&next=/where")

    def test_lock_out_is_the_apis(self, client: TestClient, world: World) -> None:
        page = client.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token is not None
        form = {"username": "clerk", "password": "wrong", "csrf_token": token.group(1)}
        codes = [client.post("/login", data=form).status_code for _ in range(11)]
        assert codes == [401] * 10 + [429]
        r = client.post("/api/v1/auth/token", data={"username": "clerk", "password": PASSWORD})
        assert r.status_code == 429  # the API's lock is the same lock


class TestCsrf:
    def test_a_post_without_the_token_changes_nothing(
        self, clerk: tuple[TestClient, str], world: World, engine: Engine
    ) -> None:
        client, _ = clerk
        before = _events(engine)
        r = client.post(f"/desk/carriers/{world.labels[0]}/missing", data={"note": "x"})
        assert r.status_code == 403 and "did not come from this site" in r.text
        assert _events(engine) == before

    def test_with_the_token_it_works(
        self, clerk: tuple[TestClient, str], world: World, engine: Engine
    ) -> None:
        client, token = clerk
        before = _events(engine)
        r = client.post(
            f"/desk/carriers/{world.labels[0]}/missing",
            data={"note": "x"},
            headers={"X-CSRF-Token": token},
        )
        assert r.status_code == 200 and "Reported missing." in r.text
        assert _events(engine) == before + 1


class TestPermissions:
    def test_a_clinician_is_refused_the_desk_and_it_is_logged(
        self, client: TestClient, world: World, engine: Engine
    ) -> None:
        _log_in(client, "clinician")
        r = client.get("/desk")
        assert r.status_code == 403 and "custody.checkout" in r.text
        with engine.connect() as conn:
            denied = (
                conn.execute(text("SELECT payload FROM custody_event WHERE action = 'denied'"))
                .scalars()
                .all()
            )
        assert any("GET /desk" in p for p in denied)


def test_user_text_is_escaped_everywhere(
    clerk: tuple[TestClient, str], world: World, engine: Engine, settings: Any
) -> None:
    """A borrower name, location name and note holding markup render as text."""
    from app.borrowers.models import Borrower
    from app.locations.models import Location

    client, token = clerk
    with session_scope(engine) as session:
        borrower = session.get(Borrower, world.borrower_id)
        assert borrower is not None
        borrower.name = NASTY
        place = session.exec(__import__("sqlmodel").select(Location)).first()
        assert place is not None
        place.name = place.path = NASTY
    label = world.labels[0]
    r = client.post(
        f"/desk/carriers/{label}/checkout",
        headers={"X-CSRF-Token": token},
        data={"borrower": f"x #{world.borrower_id}", "purpose": "TREAT"},
    )
    assert r.status_code == 200, r.text
    pages = [
        r.text,
        client.get(f"/desk/carriers/{label}").text,
        client.get(f"/carriers/{label}").text,
        client.get("/where", params={"q": label}).text,
    ]
    for html in pages:
        assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&#34;&amp;" in pages[0]
    assert "&lt;script&gt;" in pages[2] and "&lt;script&gt;" in pages[3]


def _events(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT COUNT(*) FROM custody_event")).scalar_one())


def test_the_stylesheets_are_well_formed() -> None:
    """Every rule and block closes (a merge once dropped closing braces, unstyling pages)."""
    from app.web import STATIC

    for sheet in STATIC.glob("*.css"):
        text = re.sub(r"/\*.*?\*/", "", sheet.read_text(), flags=re.S)
        depth = 0
        for char in text:
            depth += (char == "{") - (char == "}")
            assert depth >= 0, sheet.name
        assert depth == 0, sheet.name


def test_a_bad_form_answers_a_page_not_json(clerk: tuple[TestClient, str]) -> None:
    client, token = clerk
    r = client.post("/desk/scan", data={}, headers={"X-CSRF-Token": token, "HX-Request": "1"})
    assert r.status_code == 422 and r.headers["content-type"].startswith("text/html")
    assert "code" in r.text and "flash error" in r.text


class TestServiceErrorsInThePagesLanguage:
    """A service's error sentence, with its parameters, shown in the page's language; the API
    says the same error in English."""

    def test_a_refused_move_on_the_desk(self, clerk: tuple[TestClient, str], world: World) -> None:
        client, token = clerk
        label = world.labels[0]  # in storage: "found" needs a missing carrier
        url = f"/desk/carriers/{label}/found"
        form = {"location": "SHELF1"}
        chinese = client.post(url, data=form, headers={"X-CSRF-Token": token,
                                                       "Accept-Language": "zh-CN"})
        assert chinese.status_code == 409
        assert re.search(rf"DVD {label} 存放在 [^<]*Shelf 1。现在不能登记为已找回。", chinese.text)
        english = client.post(url, data=form, headers={"X-CSRF-Token": token,
                                                       "Accept-Language": "en"})
        assert english.status_code == 409
        assert re.search(
            rf"DVD {label} is in storage at [^<]*Shelf 1\. It cannot be recorded as found now\.",
            english.text,
        )
        api = client.post(f"/api/v1/carriers/{label}/found", json=form,
                          headers={**world.auth("clerk"), "Accept-Language": "zh-CN"})
        assert api.status_code == 409 and api.json()["error"] == "conflict"
        assert re.fullmatch(
            rf"DVD {label} is in storage at .*Shelf 1\. It cannot be recorded as found now\.",
            api.json()["detail"],
        )

    def test_a_lent_carrier_with_its_borrower_and_due_date(
        self, clerk: tuple[TestClient, str], world: World, engine: Engine, settings: Settings
    ) -> None:
        client, token = clerk
        label = world.labels[1]
        today = site_today(settings)
        due = today + timedelta(days=20)
        with session_scope(engine) as session:
            custody_service.check_out(
                session=session, principal=SYSTEM, label=label, settings=settings, today=today,
                checkout_in=custody_schemas.CheckOut(
                    borrower_id=world.borrower_id, purpose="TREAT", due_on=due
                ),
            )
        this_year = due.year == today.year
        url, form = f"/desk/carriers/{label}/found", {"location": "SHELF1"}
        chinese = client.post(url, data=form, headers={"X-CSRF-Token": token,
                                                       "Accept-Language": "zh-CN"})
        day = f"{due.month}月{due.day}日"
        day = day if this_year else f"{due.year}年{day}"
        assert chinese.status_code == 409
        sentence = f"DVD {label} 已借给 Dr Wang，应还日期为 {day}。现在不能登记为已找回。"
        assert sentence in chinese.text
        english = client.post(url, data=form, headers={"X-CSRF-Token": token})
        day = f"{due.day} {due:%b}" + ("" if this_year else f" {due.year}")
        assert (f"DVD {label} is already lent to Dr Wang until {day}. "
                "It cannot be recorded as found now.") in english.text

    def test_a_numbered_thing_that_is_not_there(self, clerk: tuple[TestClient, str]) -> None:
        client, _ = clerk
        client.cookies.set("mediatrack_lang", "zh_CN")  # the language switch's cookie
        r = client.get("/inventory/987654")
        assert r.status_code == 404 and "没有该编号的盘点任务。" in r.text
        client.cookies.set("mediatrack_lang", "en")
        r = client.get("/inventory/987654")
        assert r.status_code == 404
        assert "There is no inventory campaign with that number." in r.text


def test_a_card_shown_by_label_is_logged_as_a_lookup(
    clerk: tuple[TestClient, str], world: World, engine: Engine
) -> None:
    client, _ = clerk
    before = _count(engine, "lookup")
    r = client.get(f"/desk/carriers/{world.labels[0]}")
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    assert _count(engine, "lookup") == before + 1


def test_a_card_loads_every_place_and_borrower_only_for_forms_that_offer_them(
    clerk: tuple[TestClient, str], world: World, engine: Engine
) -> None:
    client, _ = clerk
    label = world.labels[0]

    def every(statements: list[str]) -> set[str]:
        return {t for t in ("borrower", "location")
                for s in statements if re.search(rf"FROM {t} ORDER BY", s)}

    with counting(engine) as stored:  # in storage: lend out (borrowers), move (places)
        html = client.get(f"/desk/carriers/{label}").text
    assert 'id="borrower-list"' in html and 'id="store-at"' in html
    assert every(stored) == {"borrower", "location"}
    with session_scope(engine) as session:
        custody_service.dispatch(session=session, principal=SYSTEM, today=site_today(),
                                 dispatch_in=custody_schemas.Dispatch(labels=[label],
                                                                      to_location="VAULT"))
    with counting(engine) as moving:  # in transit: receive or report missing, no list
        html = client.get(f"/desk/carriers/{label}").text
    assert "Receive here" in html and 'id="borrower-list"' not in html
    assert every(moving) == set()


def _count(engine: Engine, action: str) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                text("SELECT COUNT(*) FROM custody_event WHERE action = :a"), {"a": action}
            ).scalar_one()
        )


def test_a_place_page_lists_its_carriers_and_the_campaigns_that_sweep_it(
    client: TestClient, world: World, engine: Engine
) -> None:
    """What a shelf label's QR code opens."""
    from datetime import date

    from app.core.db import session_scope
    from app.core.principal import SYSTEM
    from app.inventory import service as inventory_service
    from app.inventory.schemas import CampaignCreate

    _log_in(client, "clinician")
    r = client.get("/locations/shelf1")  # any case, as typed
    assert r.status_code == 200
    assert "City Hospital / Archive / Shelf 1" in r.text
    assert all(f'href="/carriers/{label}"' in r.text for label in world.labels)
    assert "/phone?shelf=" not in r.text  # no campaign, and a clinician does not sweep
    assert client.get("/locations/NOSUCHPLACE").status_code == 404
    with session_scope(engine) as session:
        campaign = inventory_service.create_campaign(
            session=session,
            principal=SYSTEM,
            campaign_in=CampaignCreate(
                name="Spring", scope="ARCH", starts_on=date.today(), ends_on=date.today()
            ),
        )
        campaign_id = campaign.id
    _log_in(client, "clerk")
    r = client.get("/locations/SHELF1")
    assert f'href="/inventory/{campaign_id}/phone?shelf=SHELF1"' in r.text
    assert "/phone?shelf=" not in client.get("/locations/VAULT").text  # outside its scope


def test_where_is_it_asks_for_the_issuer_when_a_patient_id_has_several(
    clerk: tuple[TestClient, str], world: World, engine: Engine
) -> None:
    from app.carriers import service as carrier_service
    from app.core.db import session_scope
    from app.core.principal import SYSTEM
    from app.studies import service as study_service
    from tests.factories import make_carrier

    patient = study_in(1).patient_id or ""
    other = study_in(9).model_copy(update={"patient_id": patient, "issuer_of_patient_id": "EAST"})
    make_carrier(engine, "EAST0001", study=None)
    with session_scope(engine) as session:
        carrier = carrier_service.get_by_label(session=session, label="EAST0001")
        study_service.link(session=session, principal=SYSTEM, carrier=carrier, studies=[other])
    client, csrf = clerk
    r = client.post("/where", data={"q": patient, "csrf_token": csrf})
    assert "several issuers" in r.text
    assert 'name="issuer" value="EAST"' in r.text  # a button of a posted form, not a link
    r = client.post(
        "/where", data={"q": patient, "kind": "patient", "issuer": "EAST", "csrf_token": csrf}
    )
    assert "several issuers" not in r.text and "EAST0001" in r.text
    assert world.labels[0] not in r.text


def test_the_search_form_posts_so_a_patient_id_stays_out_of_the_address(
    clerk: tuple[TestClient, str], world: World
) -> None:
    client, csrf = clerk
    page = client.get("/where").text
    assert '<form method="post" action="/where"' in page
    patient = study_in(1).patient_id or ""
    r = client.post("/where", data={"q": patient, "csrf_token": csrf})
    assert r.status_code == 200 and world.labels[0] in r.text
    assert str(r.url).endswith("/where")  # answered in place: no redirect to a URL with it
    refused = client.post("/where", data={"q": patient})  # without the form's token
    assert refused.status_code == 403 and world.labels[0] not in refused.text
