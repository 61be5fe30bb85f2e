"""The page a phone opens when it taps a carrier's tag (the tag's URI record).

Anyone can tap a tag, so this page shows only what the tag itself says (label, kind, set
information) and how to give a found carrier back. Everything else needs a log-in via the API.
"""

from __future__ import annotations

from html import escape

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from app.carriers import service as carrier_service
from app.core.db import SessionDep
from app.core.deps import SettingsDep
from app.site import service as site_service

router = APIRouter(include_in_schema=False)

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title></head>
<body style="font-family: sans-serif; max-width: 36em; margin: 2em auto; padding: 0 1em">
<h1>{title}</h1>
<p>{body}</p>
<p>This medium belongs to the radiology archive of <strong>{site}</strong>. It holds patient
images: if you found it, please hand it to the hospital's radiology archive or reception.</p>
</body></html>
"""


@router.get("/c/{label}", response_class=HTMLResponse)
def carrier_page(session: SessionDep, settings: SettingsDep, label: str) -> HTMLResponse:
    site = escape(site_service.current(session=session, settings=settings).name)
    if not carrier_service.is_known_label(session=session, label=label):
        page = _PAGE.format(
            title="Unknown medium", body="This label is not registered here.", site=site
        )
        return HTMLResponse(page, status_code=404)
    carrier = carrier_service.get_by_label(session=session, label=label)
    body = "A labelled medium of a hospital archive."
    if carrier.set_total:
        body = f"Part {carrier.set_number} of a set of {carrier.set_total} media."
    page = _PAGE.format(title=escape(carrier_service.name(carrier)), body=body, site=site)
    return HTMLResponse(page)
