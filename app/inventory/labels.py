"""The keyed checksum of a label a phone or laptop read, checked on the server.

Web NFC hands a page each NDEF record with its ``recordType`` ("url" for an RTD-URI record, the
NFC Forum external type ``domain:type`` for ours) and its payload; the page sends them as they
came. The NDEF message is rebuilt from them and checked with the same code a station uses
offline (``readers.carrier_label``), against the site keys (:mod:`app.core.site_keys`).
"""

from __future__ import annotations

import ndef

from app.inventory.schemas import NdefRecord
from readers.carrier_label import LabelCheck, LabelReading, decode_label

# NFC Forum RTD 1.0 §3.4: an external type's full name is "urn:nfc:ext:" + domain:type.
EXTERNAL_PREFIX = "urn:nfc:ext:"


def message_of(records: list[NdefRecord]) -> bytes:
    """The NDEF message the records came from; records other than a URL and an external type
    (text, MIME, ...) are left out: a label is only ever those two."""
    rebuilt: list[ndef.Record] = []
    for record in records:
        data = bytes.fromhex(record.data)
        if record.type == "url":
            rebuilt.append(ndef.UriRecord(data.decode("utf-8", errors="replace")))
        elif ":" in record.type:
            rebuilt.append(ndef.Record(EXTERNAL_PREFIX + record.type, "", data))
    return b"".join(ndef.message_encoder(rebuilt)) if rebuilt else b""


def check(records: list[NdefRecord], *, uid: str, keys: dict[int, bytes]) -> LabelReading:
    if not keys:
        return LabelReading(LabelCheck.UNKNOWN_KEY)
    try:
        message = message_of(records)
    except (ndef.EncodeError, ValueError):
        return LabelReading(LabelCheck.ALTERED)
    return decode_label(message, uid=uid, keys=keys)
