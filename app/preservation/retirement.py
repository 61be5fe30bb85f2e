"""The retirement rule: a carrier may go only when every study it holds is kept elsewhere.

``ensure_retirable`` is what custody (retire) and destruction check; ``study_safety`` says,
study by study, where the other copy is: a verified successor or a complete PACS copy.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, select

from app.carriers import service as carrier_service
from app.carriers.models import Carrier
from app.carriers.schemas import CarrierStatus
from app.core.errors import ConflictError
from app.media.models import FixityCheck
from app.pacs.check import PacsStatus
from app.pacs.models import PacsCheck
from app.preservation.models import Succession
from app.studies.models import CarrierStudy, Study

# Carriers whose copies count as "safe elsewhere": present and not on their way out.
_UNSAFE_STATUSES = (CarrierStatus.MISSING.value, CarrierStatus.DESTROYED.value)


@dataclass(frozen=True)
class StudySafety:
    study_uid: str
    safe_on: str | None  # "successor LABEL" or "PACS"; None: the carrier may be the only copy


def study_safety(*, session: Session, carrier: Carrier) -> list[StudySafety]:
    """For each study on the carrier, where else a trustworthy copy is kept."""
    successors = _verified_successors(session=session, carrier=carrier)
    out = []
    for study in studies_on(session=session, carrier=carrier):
        on = next(
            (
                c.label
                for c in successors
                if session.get(CarrierStudy, (c.id, study.id)) is not None
            ),
            None,
        )
        if on is not None:
            out.append(StudySafety(study.study_uid, f"successor {on}"))
        elif _complete_in_pacs(session=session, carrier=carrier, study=study):
            out.append(StudySafety(study.study_uid, "PACS"))
        else:
            out.append(StudySafety(study.study_uid, None))
    return out


def ensure_retirable(*, session: Session, carrier: Carrier) -> None:
    """Raise 409 unless every study is on a verified successor or complete in the PACS."""
    unsafe = [s.study_uid for s in study_safety(session=session, carrier=carrier) if not s.safe_on]
    if unsafe:
        who = carrier_service.name_phrase(carrier)
        if len(unsafe) == 1:
            raise ConflictError(
                "{carrier} may hold the only copy of {count} study (first: {first}): each must "
                "be on a verified successor or complete in the PACS first.",
                carrier=who, count=1, first=unsafe[0],
            )
        raise ConflictError(
            "{carrier} may hold the only copy of {count} studies (first: {first}): each must "
            "be on a verified successor or complete in the PACS first.",
            carrier=who, count=len(unsafe), first=unsafe[0],
        )


def studies_on(*, session: Session, carrier: Carrier) -> list[Study]:
    """The studies the carrier holds, by StudyInstanceUID."""
    return list(
        session.exec(
            select(Study)
            .join(CarrierStudy, col(CarrierStudy.study_id) == col(Study.id))
            .where(CarrierStudy.carrier_id == carrier.id)
            .order_by(col(Study.study_uid))
        )
    )


def _verified_successors(*, session: Session, carrier: Carrier) -> list[Carrier]:
    """Successors (and theirs, transitively) that are present and whose last fixity check
    passed; a successor never verified does not count."""
    found: list[Carrier] = []
    seen = {carrier.id}
    frontier = [carrier.id]
    while frontier:
        rows = session.exec(
            select(Carrier)
            .join(Succession, col(Succession.successor_id) == col(Carrier.id))
            .where(col(Succession.predecessor_id).in_(frontier))
        ).all()
        frontier = []
        for successor in rows:
            if successor.id in seen:
                continue
            seen.add(successor.id)
            frontier.append(successor.id)
            if successor.status not in _UNSAFE_STATUSES and _last_fixity_ok(session, successor):
                found.append(successor)
    return found


def _last_fixity_ok(session: Session, carrier: Carrier) -> bool:
    last = session.exec(
        select(FixityCheck.ok)
        .where(FixityCheck.carrier_id == carrier.id)
        .order_by(col(FixityCheck.checked_at).desc(), col(FixityCheck.id).desc())
        .limit(1)
    ).first()
    return bool(last)


def _complete_in_pacs(*, session: Session, carrier: Carrier, study: Study) -> bool:
    """The latest PACS answer about this carrier's copy of the study says complete."""
    last = session.exec(
        select(PacsCheck.status)
        .where(PacsCheck.carrier_id == carrier.id, PacsCheck.study_id == study.id)
        .order_by(col(PacsCheck.checked_at).desc(), col(PacsCheck.id).desc())
        .limit(1)
    ).first()
    return last == PacsStatus.COMPLETE.value
