"""All routers under /api/v1."""

from fastapi import APIRouter

from app.audit.router import router as audit_router
from app.borrowers.router import router as borrowers_router
from app.carriers.router import router as carriers_router
from app.core.openapi import errors
from app.custody.router import router as custody_router
from app.epcis.router import router as epcis_router
from app.inventory.router import router as inventory_router
from app.locations.router import router as locations_router
from app.lookup.router import router as lookup_router
from app.media.router import router as media_router
from app.pacs.router import router as pacs_router
from app.preservation.router import router as preservation_router
from app.requests.router import router as requests_router
from app.scans.router import router as scans_router
from app.stations.router import router as stations_router
from app.studies.router import router as studies_router
from app.tags.router import router as tags_router
from app.users.router import router as users_router

# A thing named in a query or a body may not be on file; a change may conflict with the state
# (app.core.openapi drops 409 from reads, adds the statuses every route of a kind answers).
api_router = APIRouter(prefix="/api/v1", responses=errors(404, 409))
# Routes are matched in this order, twice per request (FastAPI matches, then matches again to
# handle). The scans come first: a station's tap is most requests, and after the users, carriers,
# tags and custody it tried two dozen routes each time. No other route can match /api/v1/scans
# and that route matches no other path, so which route answers a path does not change.
for router in (
    scans_router,
    users_router,
    carriers_router,
    tags_router,
    custody_router,
    lookup_router,
    studies_router,
    locations_router,
    borrowers_router,
    stations_router,
    audit_router,
    media_router,
    pacs_router,
    preservation_router,
    requests_router,
    inventory_router,
    epcis_router,
):
    api_router.include_router(router)
