"""A carrier's custody and preservation history in standard shapes.

- PREMIS 3 style events (JSON): eventType from the LoC vocabulary
  (id.loc.gov/vocabulary/preservation/eventType) where one fits, a local term where none does.
- DICOM PS3.15 A.5 audit messages (the IHE ATNA schema) for media import (110107) and media
  export (110106), so a hospital's audit record repository can take them.
"""

from __future__ import annotations

import json
from typing import Any
from xml.etree import ElementTree as ET

from sqlmodel import Session, col, select

from app.audit.models import CustodyEvent
from app.carriers.models import Carrier
from app.studies.models import CarrierStudy, Study

# Custody actions without a "premis_event_type" in their payload. LoC terms where they fit;
# the others are local terms (PREMIS allows them), marked by the "local:" prefix.
PREMIS_TYPES = {
    "register": "accession",
    "label": "metadata modification",
    "relabel": "metadata modification",
    "link_studies": "metadata modification",
    "store": "local:custody transfer",
    "check_out": "local:custody transfer",
    "return": "local:custody transfer",
    "dispatch": "local:custody transfer",
    "receive": "local:custody transfer",
    "seen": "local:inventory",
    "missing": "local:reported missing",
    "found": "local:reported found",
    "legal_hold": "local:legal hold",
    "release": "local:legal hold release",
    "retire": "local:retirement",
    "pacs_check": "local:PACS comparison",
}

# PS3.16 CID 405 Media Type; kinds without a code are sent as a local code.
MEDIA_TYPE_CODES = {"CD": ("110032", "CD"), "DVD": ("110033", "DVD")}
# PS3.15 A.5.3.4 / A.5.3.5: Export and Import, and the media participant's role.
EXPORT = ("110106", "Export")
IMPORT = ("110107", "Import")
DESTINATION_MEDIA = ("110154", "Destination Media")
SOURCE_MEDIA = ("110155", "Source Media")
# PS3.15 A.5.2: the carrier leaving the archive (lent or dispatched) is an export of the data
# it holds onto media outside the archive's custody; reading it in (intake) is an import.
ATNA_EVENTS = {
    "intake": (IMPORT, "C", SOURCE_MEDIA),
    "check_out": (EXPORT, "R", DESTINATION_MEDIA),
    "dispatch": (EXPORT, "R", DESTINATION_MEDIA),
}


def _events(session: Session, carrier: Carrier) -> list[CustodyEvent]:
    query = select(CustodyEvent).where(CustodyEvent.carrier_id == carrier.id)
    return list(session.exec(query.order_by(col(CustodyEvent.seq))))


def _studies(session: Session, carrier: Carrier) -> list[Study]:
    query = (
        select(Study)
        .join(CarrierStudy, col(CarrierStudy.study_id) == col(Study.id))
        .where(CarrierStudy.carrier_id == carrier.id)
        .order_by(col(Study.study_uid))
    )
    return list(session.exec(query))


def premis_events(*, session: Session, carrier: Carrier) -> dict[str, Any]:
    """The carrier as a PREMIS object and every custody event about it as a PREMIS event."""
    events = []
    for event in _events(session, carrier):
        payload = json.loads(event.payload)
        outcome = payload.get("outcome", "success")
        events.append(
            {
                "eventIdentifier": {
                    "eventIdentifierType": "MediaTrack custody log sequence",
                    "eventIdentifierValue": str(event.seq),
                },
                "eventType": payload.get("premis_event_type")
                or PREMIS_TYPES.get(event.action, f"local:{event.action}"),
                "eventDateTime": event.recorded_at.isoformat(),
                "eventDetailInformation": [{"eventDetail": event.action}],
                "eventOutcomeInformation": [
                    {
                        "eventOutcome": outcome if isinstance(outcome, str) else "success",
                        "eventOutcomeDetail": [
                            {"eventOutcomeDetailNote": json.dumps(payload, sort_keys=True)}
                        ],
                    }
                ],
                "linkingAgentIdentifier": [
                    {
                        "linkingAgentIdentifierType": "MediaTrack principal",
                        "linkingAgentIdentifierValue": f"{event.actor_kind}:{event.actor_id}",
                        "linkingAgentRole": [event.actor_role],
                    }
                ],
                "linkingObjectIdentifier": [
                    {
                        "linkingObjectIdentifierType": "MediaTrack carrier label",
                        "linkingObjectIdentifierValue": carrier.label,
                    }
                ],
                "eventHash": event.hash,
            }
        )
    return {
        "object": {
            "objectIdentifier": [
                {
                    "objectIdentifierType": "MediaTrack carrier label",
                    "objectIdentifierValue": carrier.label,
                },
                *(
                    [
                        {
                            "objectIdentifierType": "DICOM File-set UID",
                            "objectIdentifierValue": carrier.fileset_uid,
                        }
                    ]
                    if carrier.fileset_uid
                    else []
                ),
            ],
            "objectCategory": "representation",
            "kind": carrier.kind,
            "status": carrier.status,
        },
        "events": events,
    }


def _code(parent: ET.Element, tag: str, code: tuple[str, str], system: str = "DCM") -> None:
    ET.SubElement(
        parent, tag, {"csd-code": code[0], "codeSystemName": system, "originalText": code[1]}
    )


def atna_messages(*, session: Session, carrier: Carrier, site: str) -> list[str]:
    """One PS3.15 A.5.1 AuditMessage (XML) per intake, check-out and dispatch of the carrier."""
    studies = _studies(session, carrier)
    messages = []
    for event in _events(session, carrier):
        if event.action not in ATNA_EVENTS:
            continue
        event_id, action_code, media_role = ATNA_EVENTS[event.action]
        root = ET.Element("AuditMessage")
        ident = ET.SubElement(
            root,
            "EventIdentification",
            {
                "EventActionCode": action_code,
                "EventDateTime": event.recorded_at.isoformat(),
                # 0 = success (A.5.1 EventOutcomeIndicator)
                "EventOutcomeIndicator": "0",
            },
        )
        _code(ident, "EventID", event_id)
        _add_requestor(root, event)
        _add_media(root, carrier, media_role)
        ET.SubElement(root, "AuditSourceIdentification", {"AuditSourceID": site})
        _add_patients_and_studies(root, studies)
        messages.append(ET.tostring(root, encoding="unicode"))
    return messages


def _add_requestor(root: ET.Element, event: CustodyEvent) -> None:
    """The person or station who did it, with their role."""
    requestor = ET.SubElement(
        root,
        "ActiveParticipant",
        {"UserID": f"{event.actor_kind}:{event.actor_id}", "UserIsRequestor": "true"},
    )
    ET.SubElement(
        requestor,
        "RoleIDCode",
        {
            "csd-code": event.actor_role,
            "codeSystemName": "MediaTrack",
            "originalText": event.actor_role,
        },
    )


def _add_media(root: ET.Element, carrier: Carrier, media_role: tuple[str, str]) -> None:
    """The carrier as the media participant, with its media type."""
    # A.5.2.1: the media participant's UserID is "media type + identifying label".
    media = ET.SubElement(
        root,
        "ActiveParticipant",
        {"UserID": f"{carrier.kind} {carrier.label}", "UserIsRequestor": "false"},
    )
    _code(media, "RoleIDCode", media_role)
    media_id = ET.SubElement(media, "MediaIdentifier")
    if carrier.kind in MEDIA_TYPE_CODES:
        _code(media_id, "MediaType", MEDIA_TYPE_CODES[carrier.kind])
    else:
        _code(media_id, "MediaType", (carrier.kind, carrier.kind), system="MediaTrack")


def _add_patients_and_studies(root: ET.Element, studies: list[Study]) -> None:
    """A participant object for each patient, then for each study, on the carrier."""
    for patient in sorted({s.patient_id for s in studies if s.patient_id}):
        # A.5.3.4/5: Patient participant, type 1 (person), role 1 (patient), ID type 2.
        obj = ET.SubElement(
            root,
            "ParticipantObjectIdentification",
            {
                "ParticipantObjectID": patient,
                "ParticipantObjectTypeCode": "1",
                "ParticipantObjectTypeCodeRole": "1",
            },
        )
        _code(obj, "ParticipantObjectIDTypeCode", ("2", "Patient Number"), system="RFC-3881")
    for study in studies:
        # Study participant: type 2 (system object), role 3 (report), ID type 110180.
        obj = ET.SubElement(
            root,
            "ParticipantObjectIdentification",
            {
                "ParticipantObjectID": study.study_uid,
                "ParticipantObjectTypeCode": "2",
                "ParticipantObjectTypeCodeRole": "3",
            },
        )
        _code(obj, "ParticipantObjectIDTypeCode", ("110180", "Study Instance UID"))
