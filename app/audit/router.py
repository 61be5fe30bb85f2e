from __future__ import annotations

import dataclasses
import json
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from app.audit import service
from app.audit.schemas import (
    CheckpointFile,
    EventListPublic,
    EventPublic,
    QueryDigestPublic,
    VerifyPublic,
)
from app.auth.deps import require
from app.core.db import ReadSessionDep, SessionDep
from app.core.deps import Limit, SettingsDep
from app.core.principal import Principal
from app.core.validation import LABEL_PATTERN, MAX_INT, QueryText

router = APIRouter(prefix="/audit", tags=["audit"])


def _verify(
    read: ReadSessionDep,
    session: SessionDep,
    principal: Principal,
    checkpoint: CheckpointFile | None,
) -> VerifyPublic:
    exported = service.ExportedCheckpoint(**checkpoint.model_dump()) if checkpoint else None
    report = service.verify(read, checkpoint=exported)
    service.log_verification(session, principal=principal, report=report)
    return VerifyPublic(**dataclasses.asdict(report))


@router.get("/events", response_model=EventListPublic)
def read_events(
    session: SessionDep,
    settings: SettingsDep,
    principal: Annotated[Principal, Depends(require("audit.read"))],
    carrier: Annotated[str | None, Query(pattern=LABEL_PATTERN)] = None,
    after: Annotated[int, Query(ge=0, le=MAX_INT)] = 0,
    limit: Limit = 100,
    cursor: Annotated[
        str | None,
        Query(
            pattern=service.CURSOR_PATTERN,
            description="The next page of a reading (``next`` of its last page); "
            "``carrier`` and ``after`` are the cursor's then.",
        ),
    ] = None,
) -> EventListPublic:
    """Entries of the custody log after the entry ``after``, up to the log's head when the
    reading began. Reading the log is itself logged (DICOM "Audit Log Used"), once per
    reading: its first page; the pages after it are read with the cursor ``next``."""
    if cursor is not None:
        query = service.read_cursor(settings.secret_key, principal, cursor)
    else:
        carrier_id = service.carrier_id(session, label=carrier) if carrier else None
        query = service.LogQuery(carrier_id, after, until=service.head_seq(session))
        service.append(
            session,
            principal=principal,
            action="log_read",
            carrier_id=carrier_id,
            payload={"after": after, "until": query.until},
        )
    events = service.list_events(
        session, carrier_id=query.carrier_id, after_seq=query.after, limit=limit, until=query.until
    )
    data = [
        EventPublic(**e.model_dump(exclude={"payload"}), payload=json.loads(e.payload))
        for e in events
    ]
    more = len(data) == limit and data[-1].seq < query.until
    last = data[-1].seq if data else query.after
    following = service.next_cursor(settings.secret_key, principal, query, last) if more else None
    return EventListPublic(data=data, next=following)


@router.get("/query-digest", response_model=QueryDigestPublic)
def read_query_digest(
    session: SessionDep,
    settings: SettingsDep,
    principal: Annotated[Principal, Depends(require("audit.read"))],
    q: QueryText,
) -> QueryDigestPublic:
    """The digest under which lookups of this text are logged, so an auditor can find who
    looked up, say, a patient ID. Asking is itself logged (by digest only)."""
    digest = service.query_digest(settings.secret_key, q)
    service.append(
        session, principal=principal, action="log_read", payload={"query_digest": digest}
    )
    return QueryDigestPublic(query_digest=digest)


@router.get("/verify", response_model=VerifyPublic)
def verify_log(
    read: ReadSessionDep,
    session: SessionDep,
    principal: Annotated[Principal, Depends(require("audit.verify"))],
) -> VerifyPublic:
    """Recompute the whole chain: ok, or the first bad entry and why."""
    return _verify(read, session, principal, None)


@router.post("/verify", response_model=VerifyPublic)
def verify_log_against_checkpoint(
    read: ReadSessionDep,
    session: SessionDep,
    principal: Annotated[Principal, Depends(require("audit.verify"))],
    checkpoint: CheckpointFile,
) -> VerifyPublic:
    """Recompute the chain and check it against an exported checkpoint (catches truncation
    and full rewrites)."""
    return _verify(read, session, principal, checkpoint)


@router.post("/checkpoints", response_model=CheckpointFile, status_code=201)
def create_checkpoint(
    session: SessionDep,
    settings: SettingsDep,
    _: Annotated[Principal, Depends(require("audit.checkpoint"))],
) -> CheckpointFile:
    """Sign the current head; store the answer somewhere else (another site, a printout)."""
    key = service.load_signing_key(settings.signing_key_file)
    exported = service.create_checkpoint(session, key=key, origin=settings.SITE_NAME)
    return CheckpointFile(**dataclasses.asdict(exported))
