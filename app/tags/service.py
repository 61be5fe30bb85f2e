"""Tags: find by UID, bind to a carrier (relabelling keeps the history)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from app.audit import service as audit_service
from app.carriers import service as carrier_service
from app.carriers.models import Carrier
from app.core.errors import ConflictError
from app.core.principal import Principal
from app.core.time import utcnow
from app.core.validation import normalise_uid
from app.custody import transitions
from app.custody.transitions import Action
from app.locations import service as location_service
from app.tags.models import Tag, TagBinding
from app.tags.schemas import TagBind


def get_by_uid(*, session: Session, uid: str) -> Tag | None:
    return session.exec(select(Tag).where(Tag.uid == uid)).one_or_none()


def carrier_of(*, session: Session, uid: str) -> Carrier | None:
    return carriers_of(session=session, uids=[uid]).get(uid)


def carriers_of(*, session: Session, uids: list[str]) -> dict[str, Carrier]:
    """Carriers by the UID of their active tag, for the UIDs that label one."""
    query = (
        select(Tag.uid, Carrier)
        .join(Carrier, col(Carrier.tag_id) == col(Tag.id))
        .where(col(Tag.uid).in_(uids))
    )
    return dict(session.exec(query).all())


def bind(*, session: Session, principal: Principal, label: str, bind_in: TagBind) -> Carrier:
    audit_service.lock_head(session)
    uid = normalise_uid(bind_in.tag_uid, bind_in.technology)
    carrier = carrier_service.get_by_label(session=session, label=label)
    if not transitions.state_allows(Action.TAG, carrier.status):
        raise ConflictError(f"{carrier_service.name(carrier)} was destroyed; it takes no tag.")
    if location_service.get_by_tag(session=session, uid=uid):
        raise ConflictError(f"Tag {uid} marks a location, not a carrier.")
    tag = get_by_uid(session=session, uid=uid)
    if tag is None:
        tag = Tag(uid=uid, technology=bind_in.technology.value, tag_type=bind_in.tag_type)
        session.add(tag)
        session.flush()
    else:
        holder = carrier_of(session=session, uid=uid)
        if holder is not None and holder.id != carrier.id:
            raise ConflictError(
                f"Tag {uid} already labels {carrier_service.name(holder)}; take it off that "
                f"carrier first (DELETE /api/v1/carriers/{holder.label}/tag, or Remove the tag "
                "on its page)."
            )
        if holder is not None:
            raise ConflictError(f"Tag {uid} already labels {carrier_service.name(carrier)}.")
        if bind_in.tag_type:
            tag.tag_type = bind_in.tag_type
    now = utcnow()
    previous = carrier.tag_id
    if previous is not None:
        # Release the unique carrier.tag_id before pointing it at the new tag.
        _take_off(session, carrier, now)
    assert tag.id is not None and carrier.id is not None
    carrier.tag_id = tag.id
    session.add(carrier)
    session.add(TagBinding(tag_id=tag.id, carrier_id=carrier.id, bound_at=now))
    session.flush()
    old = session.get(Tag, previous) if previous else None
    audit_service.append(
        session,
        principal=principal,
        action="relabel" if old else "label",
        carrier=carrier,
        payload={
            "tag_uid": uid,
            "technology": tag.technology,
            "replaced": old.uid if old else None,
        },
    )
    return carrier


def unbind(*, session: Session, principal: Principal, label: str) -> Carrier:
    """Take the tag off a carrier (a damaged label, a tag to reuse); the history is kept."""
    audit_service.lock_head(session)
    carrier = carrier_service.get_by_label(session=session, label=label)
    if carrier.tag_id is None:
        raise ConflictError(f"{carrier_service.name(carrier)} has no tag to take off.")
    tag = session.get(Tag, carrier.tag_id)
    _take_off(session, carrier, utcnow())
    audit_service.append(
        session,
        principal=principal,
        action="unlabel",
        carrier=carrier,
        payload={"tag_uid": tag.uid if tag else None},
    )
    return carrier


def _take_off(session: Session, carrier: Carrier, now: datetime) -> None:
    """End the carrier's open tag binding (the history keeps it) and clear its tag."""
    open_binding = select(TagBinding).where(
        TagBinding.carrier_id == carrier.id, col(TagBinding.unbound_at).is_(None)
    )
    for binding in session.exec(open_binding):
        binding.unbound_at = now
        session.add(binding)
    carrier.tag_id = None
    session.add(carrier)
    session.flush()
