"""Requests for carriers: ask, list, fulfil (lend the carrier to the requester), cancel.

A request is stored open, fulfilled or cancelled. An open request whose carrier is lent out or
in transit reads as *queued*: it reaches the clerks' pull list (and the desk's card of the
carrier) once the carrier is back, with no step of its own.

The requester borrows as a ``Borrower`` of kind staff with their display name: fulfilling a
request uses the active staff borrower of that name (the oldest, if there are several) or
creates one. Borrowers have no link to accounts; the name is the link.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlmodel import Session, col, or_, select

from app.audit import service as audit_service
from app.borrowers import service as borrower_service
from app.borrowers.models import Borrower
from app.borrowers.schemas import BorrowerCreate, BorrowerKind
from app.carriers import service as carrier_service
from app.carriers.models import Carrier
from app.carriers.schemas import CarrierStatus
from app.core.config import Settings
from app.core.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError
from app.core.ids import id_of
from app.core.permissions import allowed
from app.core.principal import Principal
from app.core.time import local_today, utcnow
from app.core.validation import is_label
from app.custody import schemas as custody_schemas
from app.custody import service as custody_service
from app.locations.models import Location
from app.requests.models import CarrierRequest
from app.requests.schemas import Fulfil, RequestCreate, RequestPublic, RequestState
from app.site import service as site_service
from app.studies import service as study_service
from app.studies.models import Study
from app.users.models import User

OUT = frozenset({CarrierStatus.CHECKED_OUT.value, CarrierStatus.IN_TRANSIT.value})
# The carriers a request may name, the ones on a shelf first.
REQUESTABLE = (
    CarrierStatus.IN_STORAGE.value,
    CarrierStatus.FOUND.value,
    CarrierStatus.REGISTERED.value,
    CarrierStatus.CHECKED_OUT.value,
    CarrierStatus.IN_TRANSIT.value,
)


def state_of(request: CarrierRequest, carrier: Carrier) -> RequestState:
    if request.state == RequestState.OPEN and carrier.status in OUT:
        return RequestState.QUEUED
    return RequestState(request.state)


def create(
    *, session: Session, principal: Principal, request_in: RequestCreate, settings: Settings
) -> CarrierRequest:
    if principal.user_id is None:
        raise ForbiddenError("Only a member of staff asks for a carrier.")
    site_service.require_purpose(
        site_service.current(session=session, settings=settings), request_in.purpose
    )
    # needed_on is a day in the archive's zone: so is the today it must not be before.
    if request_in.needed_on < local_today(settings.zone):
        raise InvalidInputError("The date the carrier is needed by is in the past.")
    audit_service.lock_head(session)
    carrier = _resolve(session, request_in.carrier)
    twin = select(CarrierRequest.id).where(
        CarrierRequest.carrier_id == carrier.id,
        CarrierRequest.requester_id == principal.user_id,
        CarrierRequest.state == RequestState.OPEN.value,
    )
    if session.exec(twin).first() is not None:
        raise ConflictError(
            "You have already asked for {carrier}.", carrier=carrier_service.name_phrase(carrier)
        )
    request = CarrierRequest(
        carrier_id=id_of(carrier),
        requester_id=principal.user_id,
        purpose=request_in.purpose,
        needed_on=request_in.needed_on,
        note=request_in.note,
    )
    session.add(request)
    session.flush()
    audit_service.append(
        session,
        principal=principal,
        action="request_created",
        carrier=carrier,
        payload={"request_id": request.id, "purpose": request.purpose,
                 "needed_on": request.needed_on.isoformat()},
    )
    return request


def _resolve(session: Session, text: str) -> Carrier:
    """The carrier a request names: by its label, or one holding the study with this accession
    number or study UID (one on a shelf before one that is out)."""
    label = text.strip().upper()
    if is_label(label) and carrier_service.is_known_label(session=session, label=label):
        return carrier_service.get_by_label(session=session, label=label)
    studies = select(Study.id).where(
        or_(col(Study.accession_number) == text.strip(), col(Study.study_uid) == text.strip())
    )
    ids = [i for i in session.exec(studies) if i is not None]
    carriers = study_service.carriers_holding(session=session, study_ids=ids) if ids else []
    usable = sorted(
        (c for c in carriers if c.status in REQUESTABLE),
        key=lambda c: (REQUESTABLE.index(c.status), c.label),
    )
    if not usable:
        # The text may be an accession number: it is not repeated in the answer.
        raise NotFoundError("No carrier that can be lent has that label or holds that study.")
    return usable[0]


def get(*, session: Session, request_id: int) -> CarrierRequest:
    request = session.get(CarrierRequest, request_id)
    if request is None:
        raise NotFoundError("There is no request with that number.")
    return request


def list_mine(*, session: Session, user_id: int, limit: int = 200) -> list[CarrierRequest]:
    query = (
        select(CarrierRequest)
        .where(CarrierRequest.requester_id == user_id)
        .order_by(col(CarrierRequest.created_at).desc(), col(CarrierRequest.id).desc())
        .limit(limit)
    )
    return list(session.exec(query))


@dataclass
class PullLine:
    request: CarrierRequest
    carrier: Carrier
    requester: User


@dataclass
class PullGroup:
    """The requested carriers on one shelf (or wherever they are now)."""

    place: Location
    lines: list[PullLine] = field(default_factory=list)


def pull_list(*, session: Session) -> list[PullGroup]:
    """Open requests whose carrier is in, by the place it is at (path order), then by the
    date needed."""
    query = (
        select(CarrierRequest, Carrier, User, Location)
        .join(Carrier, col(Carrier.id) == col(CarrierRequest.carrier_id))
        .join(User, col(User.id) == col(CarrierRequest.requester_id))
        .join(Location, col(Location.id) == col(Carrier.current_location_id))
        .where(CarrierRequest.state == RequestState.OPEN.value, col(Carrier.status).not_in(OUT))
        .order_by(col(Location.path), col(CarrierRequest.needed_on), col(CarrierRequest.id))
    )
    groups: list[PullGroup] = []
    for request, carrier, user, place in session.exec(query):
        if not groups or groups[-1].place.id != place.id:
            groups.append(PullGroup(place))
        groups[-1].lines.append(PullLine(request, carrier, user))
    return groups


def waiting_for(*, session: Session, carrier: Carrier) -> list[tuple[CarrierRequest, User]]:
    """The open requests for this carrier, soonest needed first."""
    query = (
        select(CarrierRequest, User)
        .join(User, col(User.id) == col(CarrierRequest.requester_id))
        .where(
            CarrierRequest.carrier_id == carrier.id,
            CarrierRequest.state == RequestState.OPEN.value,
        )
        .order_by(col(CarrierRequest.needed_on), col(CarrierRequest.id))
    )
    return [(request, user) for request, user in session.exec(query)]


def borrower_for(*, session: Session, user: User, by: Principal) -> Borrower:
    """The requester as a borrower: the active staff borrower with their display name, made
    when there is none."""
    query = (
        select(Borrower)
        .where(
            Borrower.name == user.display_name,
            Borrower.kind == BorrowerKind.STAFF.value,
            col(Borrower.active).is_(True),
        )
        .order_by(col(Borrower.id))
    )
    found = session.exec(query).first()
    if found is not None:
        return found
    return borrower_service.create(
        session=session, borrower_in=BorrowerCreate(name=user.display_name), by=by
    )


def fulfil(
    *,
    session: Session,
    principal: Principal,
    request_id: int,
    fulfil_in: Fulfil,
    settings: Settings,
) -> CarrierRequest:
    """Lend the requested carrier to the requester (the custody service checks it may go)."""
    audit_service.lock_head(session)
    request = _open(session, request_id)
    requester = session.get(User, request.requester_id)
    carrier = session.get(Carrier, request.carrier_id)
    assert requester is not None and carrier is not None  # foreign keys
    borrower = borrower_for(session=session, user=requester, by=principal)
    checkout_in = custody_schemas.CheckOut(
        borrower_id=id_of(borrower), purpose=request.purpose, due_on=fulfil_in.due_on,
        approver=fulfil_in.approver,
    )
    custody_service.check_out(session=session, principal=principal, label=carrier.label,
                              checkout_in=checkout_in, settings=settings,
                              today=local_today(settings.zone))
    loan = custody_service.open_loan(session=session, carrier_id=id_of(carrier))
    request.state, request.closed_at = RequestState.FULFILLED.value, utcnow()
    request.closed_by_id, request.loan_id = principal.user_id, loan.id if loan else None
    session.add(request)
    session.flush()
    audit_service.append(
        session,
        principal=principal,
        action="request_fulfilled",
        carrier=carrier,
        payload={"request_id": request.id, "loan_id": request.loan_id},
    )
    return request


def cancel(*, session: Session, principal: Principal, request_id: int) -> CarrierRequest:
    """The requester withdraws a request, or a clerk closes it."""
    audit_service.lock_head(session)
    request = _open(session, request_id)
    if request.requester_id != principal.user_id and not allowed(
        "requests.fulfil", principal.role
    ):
        raise ForbiddenError("Only the person who asked, or a clerk, cancels a request.")
    request.state, request.closed_at = RequestState.CANCELLED.value, utcnow()
    request.closed_by_id = principal.user_id
    session.add(request)
    session.flush()
    carrier = session.get(Carrier, request.carrier_id)
    assert carrier is not None
    audit_service.append(
        session, principal=principal, action="request_cancelled", carrier=carrier,
        payload={"request_id": request.id},
    )
    return request


def _open(session: Session, request_id: int) -> CarrierRequest:
    request = get(session=session, request_id=request_id)
    # One sentence per state, not the state's code inside one: a page says it in its language.
    if request.state == RequestState.FULFILLED.value:
        raise ConflictError("Request {request_id} is already fulfilled.", request_id=request_id)
    if request.state != RequestState.OPEN.value:
        raise ConflictError("Request {request_id} is already cancelled.", request_id=request_id)
    return request


def to_public(*, session: Session, request: CarrierRequest) -> RequestPublic:
    carrier = session.get(Carrier, request.carrier_id)
    requester = session.get(User, request.requester_id)
    assert carrier is not None and requester is not None
    place = session.get(Location, carrier.current_location_id)
    return RequestPublic(
        id=id_of(request),
        label=carrier.label,
        requester=requester.username,
        requester_name=requester.display_name,
        purpose=request.purpose,
        needed_on=request.needed_on,
        note=request.note,
        state=state_of(request, carrier),
        created_at=request.created_at,
        closed_at=request.closed_at,
        loan_id=request.loan_id,
        location_path=place.path if place else "",
    )
