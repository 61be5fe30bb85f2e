"""The phone page of an inventory sweep: Web NFC on Android Chrome (over https), offline first.

The page (static/phone.js) turns each tag the phone reads, or each label and shelf typed or
scanned into its fields, into an inventory read; every read waits in the phone's IndexedDB
with its event id until this module's ``POST /inventory/{id}/reads`` has answered it, so reads
survive a dead network, a reload and an expired log-in, and the service's idempotence on event
ids makes the delivery exactly-once. A service worker (``/inventory/sw.js``) keeps the page and
its assets so it reloads with no signal. The reads go to the same inventory service as the API,
as the logged-in person (cookie session and CSRF header, like every page's POST).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from app.core.db import ReadSessionDep
from app.core.deps import SettingsDep
from app.core.writer import WriterDep
from app.inventory import schemas
from app.inventory import service as inventory_service
from app.inventory.router import CampaignId
from app.inventory.tree import Tree
from app.locations.service import PATH_SEPARATOR
from app.web.i18n import gettext
from app.web.render import render
from app.web.security import Csrf, WebUser, page

router = APIRouter(prefix="/inventory", include_in_schema=False)

Sweeper = Annotated[WebUser, Depends(page("inventory.sweep"))]

SERVICE_WORKER = Path(__file__).parent / "static" / "phone-sw.js"


@router.get("/sw.js")
def service_worker(user: Sweeper) -> Response:
    """The phone page's service worker, served from here so that its scope is /inventory/
    (a worker controls only pages under the folder of its script)."""
    return Response(SERVICE_WORKER.read_bytes(), media_type="text/javascript")


@router.get("/{campaign_id}/phone", response_class=HTMLResponse)
def phone(
    request: Request, session: ReadSessionDep, user: Sweeper, campaign_id: CampaignId
) -> HTMLResponse:
    campaign = inventory_service.get_campaign(session=session, campaign_id=campaign_id)
    public = inventory_service.to_public(session=session, campaign=campaign)
    tree = Tree.load(session)
    # The chooser offers the scope's shelves (where carriers stand), in path order, named from
    # the scope down ("Cabinet 1 / Shelf 2"): the rest of the path is the same for all of them.
    above = public.scope_path.rpartition(PATH_SEPARATOR)[0]
    cut = len(above + PATH_SEPARATOR) if above else 0
    shelves = sorted(
        (tree.by_id[i] for i in tree.shelves(campaign.scope_location_id)), key=lambda p: p.path
    )
    places = [(shelf.code, shelf.path[cut:]) for shelf in shelves]
    context = {"campaign": public, "places": places, "words": _words()}
    return render(request, "inventory/phone.html", context, user=user)


@router.post("/{campaign_id}/reads")
async def post_reads(
    writer: WriterDep,
    settings: SettingsDep,
    user: Sweeper,
    _: Csrf,
    campaign_id: CampaignId,
    batch: schemas.ReadBatch,
) -> schemas.ReadResults:
    """A batch of the phone's queued reads (JSON, the API's ReadBatch), as the logged-in
    person; answered in JSON, errors included (the page asks for JSON). Group-committed with
    the other batches and scans of the moment, as the API's route is (app.core.writer)."""
    return await writer.run(
        lambda session: inventory_service.ingest(
            session=session,
            principal=user.principal,
            campaign_id=campaign_id,
            reads=batch.reads,
            settings=settings,
        )
    )


def _words() -> dict[str, str]:
    """What the page's script says, in the reader's language (``{n}`` and the like are filled
    in by the script)."""
    return {
        # A read's class, in big letters (the colour, sound and vibration go with it).
        "found": gettext("Found"),
        "misplaced": gettext("Misplaced"),
        "unexpected": gettext("Should not be here"),
        "unknown": gettext("Unknown tag"),
        "altered": gettext("Altered label"),
        "shelf": gettext("Shelf"),
        "no_shelf": gettext("Read a shelf first"),
        "out_of_scope": gettext("Shelf outside this inventory"),
        "rejected": gettext("Not recognised"),
        "duplicate": gettext("Already read"),
        "queued": gettext("Read: waiting to be sent"),
        "more": gettext("and {n} more reads"),
        "progress": gettext("{seen} of {expected} expected carriers seen"),
        "waiting_shelf": gettext("{shelf} (waiting for the server)"),
        "no_serial": gettext("This tag gives no serial number and holds no MediaTrack label."),
        "not_understood": gettext(
            "Not a carrier label, a shelf code or a label's QR code: check what was typed."
        ),
        "reading": gettext("Reading: hold the phone to a shelf tag, then to each carrier."),
        "read_error": gettext("The tag could not be read: hold the phone still and try again."),
        "nfc_denied": gettext("NFC was not allowed: allow it for this site and try again."),
        "nfc_error": gettext("Could not start reading NFC tags: {error}"),
        "offline": gettext("No network: reads are kept on this phone and sent when it is back."),
        "login_again": gettext("Log in again to deliver {n} waiting reads."),
        "forbidden": gettext("Your role may not record inventory reads."),
        "refused": gettext("The server refused a read and it was dropped: {detail}"),
        "stuck": gettext("The server cannot take these reads now: {detail}"),
        "server_error": gettext("The server had a problem; the reads wait and are sent again."),
    }
