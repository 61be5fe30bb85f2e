"""Custody operations. Each one: take the log lock, load and check, change, append one event
per carrier, all in the caller's transaction. An illegal move raises a 409 sentence.

``today`` is the archive's day (app.core.time.local_today), worked out by the caller: due and
expected dates are checked against it and a refusal counts a loan's days overdue from it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from sqlmodel import Session, col, select

from app.audit import service as audit_service
from app.borrowers import service as borrower_service
from app.carriers import service as carrier_service
from app.carriers.models import Carrier
from app.carriers.schemas import CarrierStatus, PlacePublic
from app.core.config import Settings
from app.core.errors import ConflictError, InvalidInputError, NotFoundError, Phrase
from app.core.ids import id_of
from app.core.principal import Principal, Role
from app.core.time import utcnow
from app.custody import schemas, transitions
from app.custody.models import Loan, Transfer, TransferItem
from app.custody.transitions import Action
from app.locations import service as location_service
from app.locations.models import Location
from app.preservation.retirement import ensure_retirable
from app.site import service as site_service
from app.users.models import User


def _load(session: Session, label: str) -> Carrier:
    audit_service.lock_head(session)
    return carrier_service.get_by_label(session=session, label=label, for_update=True)


def _require(session: Session, carrier: Carrier, action: Action, today: date) -> None:
    """Refuse (409) a move the transition table does not allow from the carrier's state."""
    move = transitions.MOVES[action]
    who = carrier_service.name_phrase(carrier)
    if not transitions.hold_allows(action, carrier.legal_hold):
        if action is Action.HOLD:
            raise ConflictError("{who} is already under legal hold.", who=who)
        if action is Action.RELEASE:
            raise ConflictError("{who} is not under legal hold.", who=who)
        raise ConflictError(
            "{who} is under legal hold and cannot be {doing} until the hold is released.",
            who=who, doing=Phrase(move.doing, "move"),
        )
    if not transitions.state_allows(action, carrier.status):
        sentence = carrier_service.state_phrase(
            carrier_service.snapshot(session=session, carrier=carrier), today=today
        )
        raise ConflictError(
            "{sentence} It cannot be {doing} now.",
            sentence=sentence, doing=Phrase(move.doing, "move"),
        )


def _log(
    session: Session,
    principal: Principal,
    action: str,
    carrier: Carrier,
    payload: dict[str, Any],
    location: Location | None = None,
    context: Mapping[str, Any] | None = None,
) -> None:
    """``context`` says why, when another domain moves the carrier (an inventory campaign)."""
    session.add(carrier)
    session.flush()
    audit_service.append(
        session,
        principal=principal,
        action=action,
        carrier=carrier,
        location_id=location.id if location else carrier.current_location_id,
        payload={**payload, **(context or {})},
    )


def store(
    *,
    session: Session,
    principal: Principal,
    label: str,
    store_in: schemas.Store,
    today: date,
    context: Mapping[str, Any] | None = None,
) -> Carrier:
    carrier = _load(session, label)
    _require(session, carrier, Action.STORE, today)
    place = location_service.get_by_code(session=session, code=store_in.location)
    previous = carrier.current_location_id
    carrier.status, carrier.current_location_id = CarrierStatus.IN_STORAGE.value, id_of(place)
    payload: dict[str, Any] = {"from_location_id": previous}
    if store_in.home:
        payload["from_home_id"] = carrier.home_location_id
        carrier.home_location_id = id_of(place)
    _log(session, principal, "store", carrier, payload, place, context)
    return carrier


def check_out(
    *,
    session: Session,
    principal: Principal,
    label: str,
    checkout_in: schemas.CheckOut,
    settings: Settings,
    today: date,
) -> Carrier:
    site = site_service.current(session=session, settings=settings)
    site_service.require_purpose(site, checkout_in.purpose)
    due_on = checkout_in.due_on or today + timedelta(days=settings.DEFAULT_LOAN_DAYS)
    # Only the system (back-filling loans from a paper ledger) may enter a past due date.
    if due_on < today and principal.kind != "system":
        raise InvalidInputError("The due date is in the past.")
    if due_on > today + timedelta(days=settings.MAX_LOAN_DAYS):
        raise InvalidInputError(
            "A loan runs at most {days} days; choose an earlier due date.",
            days=settings.MAX_LOAN_DAYS,
        )
    carrier = _load(session, label)
    _require(session, carrier, Action.CHECKOUT, today)
    borrower = borrower_service.get(session=session, borrower_id=checkout_in.borrower_id)
    approver = _approver(session, principal, checkout_in, site.approval_purposes)
    loan = Loan(
        carrier_id=id_of(carrier),
        borrower_id=id_of(borrower),
        purpose=checkout_in.purpose,
        approver_id=approver.id if approver else None,
        out_by_id=principal.user_id,
        out_at=utcnow(),
        due_on=due_on,
    )
    session.add(loan)
    carrier.status = CarrierStatus.CHECKED_OUT.value
    session.flush()
    _log(
        session,
        principal,
        "check_out",
        carrier,
        {
            "loan_id": loan.id,
            "borrower_id": borrower.id,
            "purpose": loan.purpose,
            "due_on": due_on.isoformat(),
            "approver_id": loan.approver_id,
        },
    )
    return carrier


def _approver(
    session: Session,
    principal: Principal,
    checkout_in: schemas.CheckOut,
    approval_purposes: tuple[str, ...],
) -> User | None:
    """The approver a purpose needs. Which purposes need one is the site's setting and who may
    approve is on file, so a refusal here is a conflict with what is stored (409)."""
    if checkout_in.purpose not in approval_purposes:
        if checkout_in.approver:
            raise ConflictError(
                "Purpose {purpose} needs no approver.", purpose=checkout_in.purpose
            )
        return None
    if not checkout_in.approver:
        raise ConflictError(
            "Purpose {purpose} (research) needs an approver: name the administrator who "
            "approved this use.", purpose=checkout_in.purpose
        )
    approver = session.exec(select(User).where(User.username == checkout_in.approver)).one_or_none()
    if approver is None or not approver.active or approver.role != Role.ADMIN:
        raise ConflictError(
            "The approver named is not an active administrator who can approve research use."
        )
    if approver.id == principal.user_id:
        raise ConflictError("Research use must be approved by someone else.")
    return approver


def return_carrier(
    *,
    session: Session,
    principal: Principal,
    label: str,
    return_in: schemas.Return,
    today: date,
    context: Mapping[str, Any] | None = None,
) -> Carrier:
    carrier = _load(session, label)
    _require(session, carrier, Action.RETURN, today)
    loan = open_loan(session=session, carrier_id=id_of(carrier))
    code = return_in.location
    if code:
        place = location_service.get_by_code(session=session, code=code)
    elif principal.location_id:
        place = location_service.get(session=session, location_id=principal.location_id)
    else:
        place = location_service.get(session=session, location_id=carrier.home_location_id)
    now = utcnow()
    overdue_days = 0
    if loan is not None:
        loan.returned_at = now
        overdue_days = max(0, (today - loan.due_on).days)
        session.add(loan)
    carrier.status, carrier.current_location_id = CarrierStatus.IN_STORAGE.value, id_of(place)
    _log(
        session,
        principal,
        "return",
        carrier,
        {"loan_id": loan.id if loan else None, "days_overdue": overdue_days},
        place,
        context,
    )
    return carrier


def dispatch(
    *, session: Session, principal: Principal, dispatch_in: schemas.Dispatch, today: date
) -> Transfer:
    audit_service.lock_head(session)
    if len(set(dispatch_in.labels)) != len(dispatch_in.labels):
        raise InvalidInputError("A carrier is listed twice in this dispatch.")
    carriers = [_load(session, label) for label in dispatch_in.labels]
    to = location_service.get_by_code(session=session, code=dispatch_in.to_location)
    sources = {c.current_location_id for c in carriers}
    for carrier in carriers:
        _require(session, carrier, Action.DISPATCH, today)
        if carrier.current_location_id == to.id:
            raise ConflictError(
                "{carrier} is already at {path}.",
                carrier=carrier_service.name_phrase(carrier), path=to.path,
            )
    if len(sources) != 1:
        raise InvalidInputError(
            "One dispatch leaves from one place; these carriers are in several."
        )
    if dispatch_in.expected_on and dispatch_in.expected_on < today:
        raise InvalidInputError("The expected arrival date is in the past.")
    transfer = Transfer(
        from_location_id=sources.pop(),
        to_location_id=id_of(to),
        seal_number=dispatch_in.seal_number,
        dispatched_at=utcnow(),
        expected_on=dispatch_in.expected_on,
        dispatched_by_id=principal.user_id,
    )
    session.add(transfer)
    session.flush()
    for carrier in carriers:
        session.add(TransferItem(transfer_id=id_of(transfer), carrier_id=id_of(carrier)))
        carrier.status = CarrierStatus.IN_TRANSIT.value
        _log(
            session,
            principal,
            "dispatch",
            carrier,
            {
                "transfer_id": transfer.id,
                "to_location_id": to.id,
                "seal_number": transfer.seal_number,
                "expected_on": transfer.expected_on.isoformat() if transfer.expected_on else None,
            },
        )
    return transfer


def get_transfer(*, session: Session, transfer_id: int) -> Transfer:
    transfer = session.get(Transfer, transfer_id)
    if transfer is None:
        raise NotFoundError("There is no transfer with that number.")
    return transfer


def transfer_items(*, session: Session, transfer_id: int) -> list[tuple[Carrier, TransferItem]]:
    query = (
        select(Carrier, TransferItem)
        .join(TransferItem, col(TransferItem.carrier_id) == col(Carrier.id))
        .where(TransferItem.transfer_id == transfer_id)
        .order_by(col(Carrier.label))
    )
    return [(c, i) for c, i in session.exec(query)]


def public_transfers(
    *, session: Session, transfers: list[Transfer]
) -> list[schemas.TransferPublic]:
    """The public views of transfers, loaded together: one query for all their carriers and
    one for their places, however many transfers there are."""
    ids = [id_of(t) for t in transfers]
    labels: dict[int, list[tuple[str, bool]]] = {i: [] for i in ids}
    if ids:
        rows = session.exec(
            select(TransferItem.transfer_id, Carrier.label, TransferItem.closed_at)
            .join(Carrier, col(Carrier.id) == col(TransferItem.carrier_id))
            .where(col(TransferItem.transfer_id).in_(ids))
            .order_by(col(Carrier.label))
        )
        for transfer_id, label, closed_at in rows:
            labels[transfer_id].append((label, closed_at is None))
    places = location_service.get_many(
        session=session,
        location_ids=[i for t in transfers for i in (t.from_location_id, t.to_location_id)],
    )

    def place(location_id: int) -> PlacePublic:
        return PlacePublic(code=places[location_id].code, path=places[location_id].path)

    return [
        schemas.TransferPublic(
            id=id_of(t),
            from_=place(t.from_location_id),
            to=place(t.to_location_id),
            seal_number=t.seal_number,
            expected_on=t.expected_on,
            carriers=[label for label, _ in labels[id_of(t)]],
            open_carriers=[label for label, still_open in labels[id_of(t)] if still_open],
        )
        for t in transfers
    ]


def receive(
    *,
    session: Session,
    principal: Principal,
    transfer_id: int,
    receive_in: schemas.Receive,
    today: date,
    context: Mapping[str, Any] | None = None,
) -> Transfer:
    audit_service.lock_head(session)
    transfer = get_transfer(session=session, transfer_id=transfer_id)
    items = transfer_items(session=session, transfer_id=transfer_id)
    open_items = {c.label: (c, i) for c, i in items if i.closed_at is None}
    wanted = receive_in.labels or list(open_items)
    if not wanted:
        raise ConflictError(
            "Everything in transfer {transfer_id} was already received.", transfer_id=transfer_id
        )
    to = location_service.get(session=session, location_id=transfer.to_location_id)
    now = utcnow()
    for label in wanted:
        if label not in open_items:
            listed = any(c.label == label for c, _ in items)
            if listed:
                raise ConflictError(
                    "{label} was already received from transfer {transfer_id}.",
                    label=label, transfer_id=transfer_id,
                )
            raise ConflictError(
                "{label} is not part of transfer {transfer_id}.",
                label=label, transfer_id=transfer_id,
            )
        carrier, item = open_items[label]
        _require(session, carrier, Action.RECEIVE, today)
        item.closed_at = now
        session.add(item)
        carrier.status, carrier.current_location_id = CarrierStatus.IN_STORAGE.value, id_of(to)
        _log(session, principal, "receive", carrier, {"transfer_id": transfer_id}, to, context)
    return transfer


def report_missing(
    *, session: Session, principal: Principal, label: str, missing_in: schemas.Missing, today: date
) -> Carrier:
    carrier = _load(session, label)
    _require(session, carrier, Action.MISSING, today)
    previous = carrier.status
    carrier.status = CarrierStatus.MISSING.value
    _log(session, principal, "missing", carrier, {"was": previous, "note": missing_in.note})
    return carrier


def report_found(
    *,
    session: Session,
    principal: Principal,
    label: str,
    found_in: schemas.Found,
    today: date,
    context: Mapping[str, Any] | None = None,
) -> Carrier:
    carrier = _load(session, label)
    _require(session, carrier, Action.FOUND, today)
    place = location_service.get_by_code(session=session, code=found_in.location)
    now = utcnow()
    # A carrier found again is back in the archive's hands: any loan or transfer ends here.
    loan = open_loan(session=session, carrier_id=id_of(carrier))
    if loan is not None:
        loan.returned_at = now
        session.add(loan)
    transit = open_transfer(session=session, carrier_id=id_of(carrier))
    if transit is not None:
        transit[1].closed_at = now
        session.add(transit[1])
    carrier.status, carrier.current_location_id = CarrierStatus.FOUND.value, id_of(place)
    _log(
        session,
        principal,
        "found",
        carrier,
        {
            "note": found_in.note,
            "closed_loan_id": loan.id if loan else None,
            "closed_transfer_id": transit[0].id if transit else None,
        },
        place,
        context,
    )
    return carrier


def set_hold(
    *, session: Session, principal: Principal, label: str, reason: str, hold: bool, today: date
) -> Carrier:
    carrier = _load(session, label)
    _require(session, carrier, Action.HOLD if hold else Action.RELEASE, today)
    carrier.legal_hold = hold
    _log(session, principal, "legal_hold" if hold else "release", carrier, {"reason": reason})
    return carrier


def retire(
    *, session: Session, principal: Principal, label: str, reason: str, today: date
) -> Carrier:
    carrier = _load(session, label)
    _require(session, carrier, Action.RETIRE, today)
    # Every study must be on a verified successor or complete in the PACS (docs/integrity.md).
    ensure_retirable(session=session, carrier=carrier)
    carrier.status = CarrierStatus.RETIRED.value
    _log(session, principal, "retire", carrier, {"reason": reason})
    return carrier


def open_loan(*, session: Session, carrier_id: int) -> Loan | None:
    """The carrier's loan not yet returned, if it has one."""
    query = select(Loan).where(Loan.carrier_id == carrier_id, col(Loan.returned_at).is_(None))
    return session.exec(query).one_or_none()


def open_transfer(*, session: Session, carrier_id: int) -> tuple[Transfer, TransferItem] | None:
    """The transfer the carrier is on and not yet received from, if any."""
    query = (
        select(Transfer, TransferItem)
        .join(TransferItem, col(TransferItem.transfer_id) == col(Transfer.id))
        .where(TransferItem.carrier_id == carrier_id, col(TransferItem.closed_at).is_(None))
    )
    row = session.exec(query).one_or_none()
    return (row[0], row[1]) if row else None


def overdue_loans(*, session: Session, today: date) -> list[tuple[Carrier, Loan]]:
    query = (
        select(Carrier, Loan)
        .join(Loan, col(Loan.carrier_id) == col(Carrier.id))
        .where(col(Loan.returned_at).is_(None), col(Loan.due_on) < today)
        .order_by(col(Loan.due_on))
    )
    return [(c, loan) for c, loan in session.exec(query)]


def overdue_transfers(*, session: Session, today: date) -> list[Transfer]:
    query = (
        select(Transfer)
        .where(
            col(Transfer.expected_on) < today,
            col(Transfer.id).in_(
                select(TransferItem.transfer_id).where(col(TransferItem.closed_at).is_(None))
            ),
        )
        .order_by(col(Transfer.expected_on))
    )
    return list(session.exec(query))
