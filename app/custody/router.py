from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path

from app.auth.deps import require
from app.carriers import service as carrier_service
from app.carriers.models import Carrier
from app.carriers.schemas import CarrierPublic
from app.core.db import ReadSessionDep, SessionDep
from app.core.deps import SettingsDep, TodayDep
from app.core.principal import Principal
from app.core.validation import MAX_INT, LabelPath
from app.custody import schemas, service
from app.custody.models import Transfer
from app.custody.transitions import Action

router = APIRouter(tags=["custody"])
TransferId = Annotated[int, Path(ge=1, le=MAX_INT)]
# The caller, when the permission table lets their role do custody.<what>.
CustodyCheckoutDep = Annotated[Principal, Depends(require("custody.checkout"))]
CustodyReturnDep = Annotated[Principal, Depends(require("custody.return"))]
CustodyTransferDep = Annotated[Principal, Depends(require("custody.transfer"))]
CustodyStoreDep = Annotated[Principal, Depends(require("custody.store"))]
CustodyMissingDep = Annotated[Principal, Depends(require("custody.missing"))]
CustodyHoldDep = Annotated[Principal, Depends(require("custody.hold"))]
CustodyRetireDep = Annotated[Principal, Depends(require("custody.retire"))]


def _public(session: SessionDep, carrier: Carrier, today: date) -> CarrierPublic:
    return carrier_service.to_public(session=session, carrier=carrier, today=today)


def _transfer_public(session: SessionDep, transfer: Transfer) -> schemas.TransferPublic:
    return service.public_transfers(session=session, transfers=[transfer])[0]


@router.post("/carriers/{label}/store", name=Action.STORE, response_model=CarrierPublic)
def store_carrier(
    session: SessionDep,
    today: TodayDep,
    principal: CustodyStoreDep,
    label: LabelPath,
    store_in: schemas.Store,
) -> CarrierPublic:
    """Put a carrier in storage at a location (also: move it within storage)."""
    carrier = service.store(
        session=session, principal=principal, label=label, store_in=store_in, today=today
    )
    return _public(session, carrier, today)


@router.post("/carriers/{label}/checkout", name=Action.CHECKOUT, response_model=CarrierPublic)
def check_out_carrier(
    session: SessionDep,
    principal: CustodyCheckoutDep,
    settings: SettingsDep,
    today: TodayDep,
    label: LabelPath,
    checkout_in: schemas.CheckOut,
) -> CarrierPublic:
    carrier = service.check_out(
        session=session,
        principal=principal,
        label=label,
        checkout_in=checkout_in,
        settings=settings,
        today=today,
    )
    return _public(session, carrier, today)


@router.post("/carriers/{label}/return", name=Action.RETURN, response_model=CarrierPublic)
def return_carrier(
    session: SessionDep,
    today: TodayDep,
    principal: CustodyReturnDep,
    label: LabelPath,
    return_in: Annotated[schemas.Return | None, Body()] = None,
) -> CarrierPublic:
    """Take a lent carrier back; with no body (or no location) it goes back to its home."""
    carrier = service.return_carrier(
        session=session,
        principal=principal,
        label=label,
        return_in=return_in or schemas.Return(),
        today=today,
    )
    return _public(session, carrier, today)


@router.post("/carriers/{label}/missing", name=Action.MISSING, response_model=CarrierPublic)
def report_missing(
    session: SessionDep,
    today: TodayDep,
    principal: CustodyMissingDep,
    label: LabelPath,
    missing_in: schemas.Missing,
) -> CarrierPublic:
    carrier = service.report_missing(
        session=session, principal=principal, label=label, missing_in=missing_in, today=today
    )
    return _public(session, carrier, today)


@router.post("/carriers/{label}/found", name=Action.FOUND, response_model=CarrierPublic)
def report_found(
    session: SessionDep,
    today: TodayDep,
    principal: CustodyMissingDep,
    label: LabelPath,
    found_in: schemas.Found,
) -> CarrierPublic:
    carrier = service.report_found(
        session=session, principal=principal, label=label, found_in=found_in, today=today
    )
    return _public(session, carrier, today)


@router.post("/carriers/{label}/hold", name=Action.HOLD, response_model=CarrierPublic)
def place_hold(
    session: SessionDep,
    today: TodayDep,
    principal: CustodyHoldDep,
    label: LabelPath,
    hold_in: schemas.Hold,
) -> CarrierPublic:
    carrier = service.set_hold(
        session=session,
        principal=principal,
        label=label,
        reason=hold_in.reason,
        hold=True,
        today=today,
    )
    return _public(session, carrier, today)


@router.post("/carriers/{label}/release", name=Action.RELEASE, response_model=CarrierPublic)
def release_hold(
    session: SessionDep,
    today: TodayDep,
    principal: CustodyHoldDep,
    label: LabelPath,
    release_in: schemas.Release,
) -> CarrierPublic:
    carrier = service.set_hold(
        session=session,
        principal=principal,
        label=label,
        reason=release_in.reason,
        hold=False,
        today=today,
    )
    return _public(session, carrier, today)


@router.post("/carriers/{label}/retire", name=Action.RETIRE, response_model=CarrierPublic)
def retire_carrier(
    session: SessionDep,
    today: TodayDep,
    principal: CustodyRetireDep,
    label: LabelPath,
    retire_in: schemas.Retire,
) -> CarrierPublic:
    carrier = service.retire(
        session=session, principal=principal, label=label, reason=retire_in.reason, today=today
    )
    return _public(session, carrier, today)


@router.post(
    "/transfers", name=Action.DISPATCH, response_model=schemas.TransferPublic, status_code=201
)
def dispatch_transfer(
    session: SessionDep,
    today: TodayDep,
    principal: CustodyTransferDep,
    dispatch_in: schemas.Dispatch,
) -> schemas.TransferPublic:
    """Dispatch one or many carriers (all from one place) to another location."""
    transfer = service.dispatch(
        session=session, principal=principal, dispatch_in=dispatch_in, today=today
    )
    return _transfer_public(session, transfer)


@router.get("/transfers/{transfer_id}", response_model=schemas.TransferPublic)
def read_transfer(
    session: ReadSessionDep,
    _: Annotated[Principal, Depends(require("carriers.read"))],
    transfer_id: TransferId,
) -> schemas.TransferPublic:
    return _transfer_public(session, service.get_transfer(session=session, transfer_id=transfer_id))


@router.post(
    "/transfers/{transfer_id}/receive", name=Action.RECEIVE, response_model=schemas.TransferPublic
)
def receive_transfer(
    session: SessionDep,
    today: TodayDep,
    principal: CustodyTransferDep,
    transfer_id: TransferId,
    receive_in: schemas.Receive,
) -> schemas.TransferPublic:
    """Receive all (or the listed) carriers of a transfer at its destination."""
    transfer = service.receive(
        session=session,
        principal=principal,
        transfer_id=transfer_id,
        receive_in=receive_in,
        today=today,
    )
    return _transfer_public(session, transfer)


@router.get("/overdue", response_model=schemas.OverduePublic)
def read_overdue(
    session: ReadSessionDep,
    today: TodayDep,
    _: Annotated[Principal, Depends(require("custody.overdue"))],
) -> schemas.OverduePublic:
    """Open loans past their due date and transfers past their expected arrival (dates in the
    archive's zone, MEDIATRACK_TIMEZONE)."""
    # Each list in one batched load: the number of queries does not grow with its length.
    late_loans = service.overdue_loans(session=session, today=today)
    carriers = carrier_service.public_views(
        session=session, carriers=[c for c, _ in late_loans], today=today
    )
    loans = [
        schemas.OverdueLoan(carrier=carrier, days_overdue=(today - loan.due_on).days)
        for carrier, (_, loan) in zip(carriers, late_loans, strict=True)
    ]
    late_transfers = service.overdue_transfers(session=session, today=today)
    transfers = [
        schemas.OverdueTransfer(
            transfer=view, days_overdue=(today - t.expected_on).days if t.expected_on else 0
        )
        for view, t in zip(
            service.public_transfers(session=session, transfers=late_transfers),
            late_transfers,
            strict=True,
        )
    ]
    return schemas.OverduePublic(loans=loans, transfers=transfers)
