""" "Where is it?" by tag UID, label, StudyInstanceUID, accession number or patient ID."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Select, bindparam
from sqlalchemy import select as sa_select
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from app.audit import service as audit_service
from app.carriers import service as carrier_service
from app.carriers.models import Carrier
from app.carriers.service import Snapshot
from app.core.errors import AppError, InvalidInputError
from app.core.ids import id_of
from app.core.principal import Principal
from app.core.validation import is_dicom_uid, is_label, looks_like_uid, normalise_uid
from app.locations.models import Location
from app.lookup.schemas import OtherCopy, QueryKind, WhereHit, WhereResult
from app.studies.models import CarrierStudy, Study

MAX_HITS = 50


def _guess(query: str) -> list[QueryKind]:
    """What the text could be, most specific first. A label-shaped text may also be an
    accession number or a patient ID, so those are tried too."""
    if is_dicom_uid(query):
        return [QueryKind.STUDY]
    kinds = []
    if looks_like_uid(query):
        kinds.append(QueryKind.TAG)
    if is_label(query.upper()):  # labels are upper case; people type them any way
        kinds.append(QueryKind.LABEL)
    return [*kinds, QueryKind.ACCESSION, QueryKind.PATIENT]


def _by_study(column: Any, *, with_issuer: bool = False) -> Select[Any]:
    """The carriers, with their facts, of the studies whose ``column`` is the bound ``query``
    (and whose issuer is the bound ``issuer``), up to MAX_HITS studies."""
    studies = sa_select(col(Study.id)).where(col(column) == bindparam("query"))
    if with_issuer:
        studies = studies.where(col(Study.issuer_of_patient_id) == bindparam("issuer"))
    holding = sa_select(col(CarrierStudy.carrier_id)).where(
        col(CarrierStudy.study_id).in_(studies.limit(MAX_HITS))
    )
    return carrier_service.snapshots_query(col(Carrier.id).in_(holding), limit=MAX_HITS)


# Each kind's statement, built once: building one per call cost more than running it. Each
# finds the carriers with their facts (carrier_service.snapshots_query), one statement.
_BY_LABEL = carrier_service.snapshots_query(
    col(Carrier.label) == bindparam("query"), limit=MAX_HITS
)
_BY_STUDY = {
    QueryKind.STUDY: _by_study(Study.study_uid),
    QueryKind.ACCESSION: _by_study(Study.accession_number),
    QueryKind.PATIENT: _by_study(Study.patient_id),
}
_BY_PATIENT_AND_ISSUER = _by_study(Study.patient_id, with_issuer=True)


def _found(
    session: Session, kind: QueryKind, query: str, issuer: str | None = None
) -> list[Snapshot]:
    """The carriers the query names as ``kind``, with what a hit says about them."""
    if kind is QueryKind.TAG:
        try:
            uid = normalise_uid(query)
        except AppError:
            return []
        return list(carrier_service.snapshots_by_tag(session=session, uids=[uid]).values())
    if kind is QueryKind.LABEL:
        statement, params = _BY_LABEL, {"query": query.upper()}
    elif kind is QueryKind.PATIENT and issuer is not None:
        statement, params = _BY_PATIENT_AND_ISSUER, {"query": query, "issuer": issuer}
    else:
        statement, params = _BY_STUDY[kind], {"query": query}
    return carrier_service.snapshots_found(session=session, query=statement, params=params)


# The other carriers that hold one of each given carrier's studies, with where they are: one
# statement for all, built once (a lookup is a handful of statements, each costs more in
# Python than in the database).
_MINE, _THEIRS = aliased(CarrierStudy), aliased(CarrierStudy)
_HOLDERS = (
    sa_select(
        col(_MINE.carrier_id),
        col(Carrier.label),
        col(Carrier.kind),
        col(Carrier.status),
        col(Location.path),
        col(Study.study_uid),
    )
    .join(
        _THEIRS,
        (col(_THEIRS.study_id) == col(_MINE.study_id))
        & (col(_THEIRS.carrier_id) != col(_MINE.carrier_id)),
    )
    .join(Carrier, col(Carrier.id) == col(_THEIRS.carrier_id))
    .join(Location, col(Location.id) == col(Carrier.current_location_id))
    .join(Study, col(Study.id) == col(_THEIRS.study_id))
    .where(col(_MINE.carrier_id).in_(bindparam("ids", expanding=True)))
    .order_by(col(Carrier.label), col(Study.study_uid))
)


def _other_copies(session: Session, carriers: list[Carrier]) -> dict[int, list[OtherCopy]]:
    """For each carrier, the other carriers that hold one of its studies."""
    ids = [c.id for c in carriers if c.id is not None]
    if not ids:
        return {}
    copies: dict[int, dict[str, OtherCopy]] = {i: {} for i in ids}
    # On the connection (Session.execute adds a third or more: tests.bench.bench_statements):
    # the snapshots read before this have flushed whatever the session held.
    for carrier_id, label, kind, status, path, study_uid in session.connection().execute(
        _HOLDERS, {"ids": ids}
    ):
        found = copies[carrier_id]
        if label not in found:
            found[label] = OtherCopy(
                label=label, kind=kind, status=status, location_path=path, shared_studies=[]
            )
        found[label].shared_studies.append(study_uid)
    return {i: list(found.values()) for i, found in copies.items()}


def issuers_of(*, session: Session, patient_id: str) -> list[str]:
    """The issuers a patient ID is recorded under (one, usually; several when two hospitals'
    numbering overlap, and then a search by the ID alone mixes two people)."""
    query = (
        select(Study.issuer_of_patient_id)
        .where(Study.patient_id == patient_id, col(Study.issuer_of_patient_id).is_not(None))
        .distinct()
        .order_by(col(Study.issuer_of_patient_id))
    )
    return [i for i in session.exec(query) if i]


def where(
    *,
    session: Session,
    principal: Principal,
    query: str,
    kind: QueryKind,
    secret: str,
    today: date,
    issuer: str | None = None,
) -> WhereResult:
    """``issuer`` narrows a patient ID to the patients of one issuer (IssuerOfPatientID).
    ``today``: the archive's day, which a hit's loan is overdue against."""
    query = query.strip()
    if not query:
        raise InvalidInputError(
            "Type what to look for: a tag UID, label, study UID, accession number or patient ID."
        )
    kinds = _guess(query) if kind is QueryKind.AUTO else [kind]
    used, snaps = kinds[0], []
    issuer = issuer.strip() if issuer and issuer.strip() else None
    for candidate in kinds:
        snaps = _found(session, candidate, query, issuer)
        if snaps:
            used = candidate
            break
    others = _other_copies(session, [snap.carrier for snap in snaps])
    hits = [
        WhereHit(
            carrier=carrier_service.public_view(snap, today=today),
            other_copies=others.get(id_of(snap.carrier), []),
        )
        for snap in snaps
    ]
    # Who asked for what: the query is kept only as a keyed digest (it may be a patient ID);
    # an auditor gets the digest of a query from /audit/query-digest, nobody can reverse it.
    audit_service.append(
        session,
        principal=principal,
        action="lookup",
        payload={
            "kind": used.value,
            "query_digest": audit_service.query_digest(secret, query),
            **({"issuer": issuer} if issuer and used is QueryKind.PATIENT else {}),
            "carriers": [h.carrier.label for h in hits],
            "study_uids": sorted({s.study_uid for h in hits for s in h.carrier.studies}),
        },
    )
    issuers = (
        issuers_of(session=session, patient_id=query)
        if used is QueryKind.PATIENT and issuer is None
        else []
    )
    return WhereResult(kind=used, hits=hits, issuers=issuers if len(issuers) > 1 else [])
