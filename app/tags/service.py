"""Tags: find by UID, bind to a carrier (relabelling keeps the history), and ask a station to
write a carrier's label on its tag (label jobs)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import bindparam
from sqlmodel import Session, col, select

from app.audit import service as audit_service
from app.carriers import service as carrier_service
from app.carriers.models import Carrier
from app.core.errors import N_, ConflictError, NotFoundError, Phrase
from app.core.ids import id_of
from app.core.principal import Principal
from app.core.site_keys import keys_of
from app.core.time import utcnow
from app.core.validation import normalise_uid
from app.custody import transitions
from app.custody.transitions import Action
from app.locations import service as location_service
from app.tags.models import LabelJob, Tag, TagBinding
from app.tags.schemas import LabelJobDone, LabelJobPublic, LabelJobState, TagBind
from readers.carrier_label import CarrierLabel, encode_label


def get_by_uid(*, session: Session, uid: str) -> Tag | None:
    return session.exec(select(Tag).where(Tag.uid == uid)).one_or_none()


def carrier_of(*, session: Session, uid: str) -> Carrier | None:
    return carriers_of(session=session, uids=[uid]).get(uid)


# Built once (a scan and a lookup run it each time): building it cost more than running it.
_CARRIERS_OF = (
    select(Tag.uid, Carrier)
    .join(Carrier, col(Carrier.tag_id) == col(Tag.id))
    .where(col(Tag.uid).in_(bindparam("uids", expanding=True)))
)


def carriers_of(*, session: Session, uids: list[str]) -> dict[str, Carrier]:
    """Carriers by the UID of their active tag, for the UIDs that label one."""
    return dict(session.exec(_CARRIERS_OF, params={"uids": uids}).all())


def bind(*, session: Session, principal: Principal, label: str, bind_in: TagBind) -> Carrier:
    audit_service.lock_head(session)
    uid = normalise_uid(bind_in.tag_uid, bind_in.technology)
    carrier = carrier_service.get_by_label(session=session, label=label)
    if not transitions.state_allows(Action.TAG, carrier.status):
        raise ConflictError(
            "{carrier} was destroyed; it takes no tag.",
            carrier=carrier_service.name_phrase(carrier),
        )
    if location_service.get_by_tag(session=session, uid=uid):
        raise ConflictError("Tag {uid} marks a location, not a carrier.", uid=uid)
    tag = get_by_uid(session=session, uid=uid)
    if tag is None:
        tag = Tag(uid=uid, technology=bind_in.technology.value, tag_type=bind_in.tag_type)
        session.add(tag)
        session.flush()
    else:
        holder = carrier_of(session=session, uid=uid)
        if holder is not None and holder.id != carrier.id:
            raise ConflictError(
                "Tag {uid} already labels {holder}; take it off that carrier first "
                "(DELETE /api/v1/carriers/{label}/tag, or Remove the tag on its page).",
                uid=uid, holder=carrier_service.name_phrase(holder), label=holder.label,
            )
        if holder is not None:
            raise ConflictError(
                "Tag {uid} already labels {carrier}.",
                uid=uid, carrier=carrier_service.name_phrase(carrier),
            )
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
        raise ConflictError(
            "{carrier} has no tag to take off.", carrier=carrier_service.name_phrase(carrier)
        )
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


# -- label jobs -----------------------------------------------------------------------------


def may_write_labels(keys_file: Path | None) -> bool:
    """Whether the service holds a site key to sign labels with (MEDIATRACK_SITE_KEYS_FILE)."""
    return bool(keys_of(keys_file))


def ask_to_label(*, session: Session, station_id: int, carrier: Carrier) -> LabelJob:
    """Ask the station to write the carrier's label on the carrier's tag. An earlier job for
    the same tag that is still waiting is ended: only the newest label is written."""
    if carrier.tag_id is None:
        raise ConflictError(
            "{carrier} has no tag to write a label on.",
            carrier=carrier_service.name_phrase(carrier),
        )
    now = utcnow()
    waiting = select(LabelJob).where(
        LabelJob.tag_id == carrier.tag_id, col(LabelJob.done_at).is_(None)
    )
    for earlier in session.exec(waiting):
        _settle(session, earlier, now, written=False, reason=NEWER_LABEL)
    job = LabelJob(station_id=station_id, tag_id=carrier.tag_id, created_at=now)
    session.add(job)
    session.flush()
    return job


# Why a label job failed, stored in English (the API's reason) and said on the desk in the
# page's language (reason_phrase). A station's own reason is stored and shown as it sent it.
NEWER_LABEL = N_("A newer label was asked for.")
TAG_TAKEN_OFF = N_("The tag was taken off its carrier before the label was written.")
NO_SITE_KEY = N_("The service has no site key (MEDIATRACK_SITE_KEYS_FILE).")
UNWRITABLE = N_("The label cannot be written on a tag: {problem}")
NO_REASON = N_("The station gave no reason.")


def reason_phrase(reason: str | None) -> Phrase:
    """A stored reason, to be said in a page's language (the station's own ones as sent)."""
    text = reason or NO_REASON
    prefix = UNWRITABLE.split("{")[0]
    if text.startswith(prefix):
        return Phrase(UNWRITABLE, problem=text.removeprefix(prefix))
    return Phrase(text)  # one of ours is in the catalog; any other text is said as it is


def label_jobs(
    *, session: Session, station_id: int, keys_file: Path | None, public_url: str
) -> list[LabelJobPublic]:
    """The station's waiting jobs, each with the NDEF message to write (signed with the newest
    site key). A job whose tag no longer labels a carrier, or whose label cannot be composed,
    ends here as failed, with the reason."""
    keys = keys_of(keys_file)
    query = (
        select(LabelJob, Tag, Carrier)
        .join(Tag, col(Tag.id) == col(LabelJob.tag_id))
        .join(Carrier, col(Carrier.tag_id) == col(Tag.id), isouter=True)
        .where(LabelJob.station_id == station_id, col(LabelJob.done_at).is_(None))
        .order_by(col(LabelJob.id))
    )
    jobs = []
    for job, tag, carrier in session.exec(query).all():
        if carrier is None:
            _settle(session, job, utcnow(), written=False,
                    reason=TAG_TAKEN_OFF)
            continue
        if not keys:
            _settle(session, job, utcnow(), written=False,
                    reason=NO_SITE_KEY)
            continue
        key_id = max(keys)
        try:
            facts = CarrierLabel(carrier.label, carrier.kind, carrier.set_number,
                                 carrier.set_total)
            message = encode_label(facts, uid=tag.uid, public_url=public_url,
                                   key=keys[key_id], key_id=key_id)
        except ValueError as exc:
            _settle(session, job, utcnow(), written=False,
                    reason=str(Phrase(UNWRITABLE, problem=exc)))
            continue
        jobs.append(LabelJobPublic(id=id_of(job), tag_uid=tag.uid, label=carrier.label,
                                   ndef=message.hex()))
    return jobs


def settle_label_job(
    *, session: Session, station_id: int, job_id: int, done: LabelJobDone
) -> LabelJobState:
    """Record what the station found. Saying it again changes nothing (a retried report)."""
    job = session.get(LabelJob, job_id)
    if job is None or job.station_id != station_id:
        raise NotFoundError("This station has no such label job.")
    if job.done_at is None:
        _settle(session, job, utcnow(), written=done.written,
                reason=None if done.written else done.reason or NO_REASON)
    return label_job(session=session, job_id=job_id)


def label_job(*, session: Session, job_id: int) -> LabelJobState:
    """How a job stands, with the label of the carrier its tag labels now."""
    job = session.get(LabelJob, job_id)
    if job is None:
        raise NotFoundError("There is no such label job.")
    carrier = session.exec(select(Carrier).where(Carrier.tag_id == job.tag_id)).one_or_none()
    state = "waiting" if job.done_at is None else "written" if job.written else "failed"
    return LabelJobState(id=id_of(job), label=carrier.label if carrier else None, state=state,
                         reason=job.reason)


def _settle(
    session: Session, job: LabelJob, now: datetime, *, written: bool, reason: str | None
) -> None:
    job.done_at, job.written, job.reason = now, written, reason
    session.add(job)
