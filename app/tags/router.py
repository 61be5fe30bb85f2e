from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from app.auth.deps import require
from app.carriers import service as carrier_service
from app.carriers.schemas import CarrierPublic
from app.core.db import SessionDep
from app.core.deps import SettingsDep, TodayDep
from app.core.principal import Principal
from app.core.validation import IdPath, LabelPath
from app.custody.transitions import Action
from app.tags import service
from app.tags.schemas import LabelJobDone, LabelJobList, LabelJobState, TagBind

router = APIRouter(tags=["tags"])
StationSelf = Annotated[Principal, Depends(require("stations.self"))]


@router.post("/carriers/{label}/tag", name=Action.TAG, response_model=CarrierPublic)
def bind_tag(
    session: SessionDep,
    today: TodayDep,
    principal: Annotated[Principal, Depends(require("tags.bind"))],
    label: LabelPath,
    bind_in: TagBind,
) -> CarrierPublic:
    """Bind a tag to the carrier; a carrier that had a tag is relabelled (history kept)."""
    carrier = service.bind(session=session, principal=principal, label=label, bind_in=bind_in)
    return carrier_service.to_public(session=session, carrier=carrier, today=today)


@router.delete("/carriers/{label}/tag", name="untag", response_model=CarrierPublic)
def unbind_tag(
    session: SessionDep,
    today: TodayDep,
    principal: Annotated[Principal, Depends(require("tags.bind"))],
    label: LabelPath,
) -> CarrierPublic:
    """Take the tag off the carrier (the tag may then label another); the history is kept."""
    carrier = service.unbind(session=session, principal=principal, label=label)
    return carrier_service.to_public(session=session, carrier=carrier, today=today)


# A GET that writes: fetching a job whose tag was taken off its carrier ends that job.
@router.get("/tags/label-jobs", response_model=LabelJobList)
def read_label_jobs(
    session: SessionDep, settings: SettingsDep, station: StationSelf
) -> LabelJobList:
    """Labels the calling station is asked to write (after "register this carrier" at its
    desk): each on the tag with that UID, while it rests on the station's reader."""
    jobs = service.label_jobs(session=session, station_id=station.station_id or 0,
                              keys_file=settings.site_keys_file, public_url=settings.PUBLIC_URL)
    return LabelJobList(data=jobs)


@router.post("/tags/label-jobs/{job_id}", response_model=LabelJobState)
def settle_label_job(
    session: SessionDep, station: StationSelf, job_id: IdPath, done: LabelJobDone
) -> LabelJobState:
    """The station wrote the label and read it back the same (``written``), or says why not."""
    return service.settle_label_job(session=session, station_id=station.station_id or 0,
                                    job_id=job_id, done=done)
