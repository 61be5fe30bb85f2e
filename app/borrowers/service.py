from __future__ import annotations

from sqlmodel import Session, col, func, select

from app.audit import service as audit_service
from app.borrowers.models import Borrower
from app.borrowers.schemas import BorrowerCreate
from app.core.errors import NotFoundError
from app.core.principal import Principal


def get(*, session: Session, borrower_id: int) -> Borrower:
    borrower = session.get(Borrower, borrower_id)
    if borrower is None or not borrower.active:
        raise NotFoundError("There is no active borrower with that number.")
    return borrower


def create(*, session: Session, borrower_in: BorrowerCreate, by: Principal) -> Borrower:
    """A new borrower, logged as an administrative change (by the API, a page, a request's
    fulfilment or the demo alike)."""
    borrower = Borrower(
        name=borrower_in.name, department=borrower_in.department, kind=borrower_in.kind.value
    )
    session.add(borrower)
    session.flush()
    audit_service.append(
        session,
        principal=by,
        action="admin_borrower_created",
        payload={"borrower_id": borrower.id, "name": borrower.name, "kind": borrower.kind},
    )
    return borrower


def list_all(*, session: Session, offset: int, limit: int) -> tuple[list[Borrower], int]:
    rows = session.exec(select(Borrower).order_by(col(Borrower.name)).offset(offset).limit(limit))
    total = session.exec(select(func.count()).select_from(Borrower)).one()
    return list(rows), total
