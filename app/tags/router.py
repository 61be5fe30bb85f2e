from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from app.auth.deps import require
from app.carriers import service as carrier_service
from app.carriers.schemas import CarrierPublic
from app.core.db import SessionDep
from app.core.principal import Principal
from app.custody.transitions import Action
from app.tags import service
from app.tags.schemas import TagBind

router = APIRouter(tags=["tags"])


@router.post("/carriers/{label}/tag", name=Action.TAG, response_model=CarrierPublic)
def bind_tag(
    session: SessionDep,
    principal: Annotated[Principal, Depends(require("tags.bind"))],
    label: str,
    bind_in: TagBind,
) -> CarrierPublic:
    """Bind a tag to the carrier; a carrier that had a tag is relabelled (history kept)."""
    carrier = service.bind(session=session, principal=principal, label=label, bind_in=bind_in)
    return carrier_service.to_public(session=session, carrier=carrier)


@router.delete("/carriers/{label}/tag", name="untag", response_model=CarrierPublic)
def unbind_tag(
    session: SessionDep,
    principal: Annotated[Principal, Depends(require("tags.bind"))],
    label: str,
) -> CarrierPublic:
    """Take the tag off the carrier (the tag may then label another); the history is kept."""
    carrier = service.unbind(session=session, principal=principal, label=label)
    return carrier_service.to_public(session=session, carrier=carrier)
