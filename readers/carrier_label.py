"""What MediaTrack writes on a tag, and how a station checks it offline.

An NDEF message (NFC Forum NDEF 1.0) of two records:

1. A URI record (RTD-URI) opening the carrier's page: ``{public_url}/c/{label}``. Any phone
   that taps the tag opens it; the page itself asks for a login.
2. An external-type record ``mediatrack:carrier`` (NFC Forum RTD 1.0 §3.4, TNF 4) with this
   payload of at most 45 bytes, so that the whole message fits an NTAG213 (144 bytes) with a
   public URL of up to about 50 characters after "https://"::

       version   1 byte   0x01
       format    1 byte   ISO 28560-1 media format: 0x02 CD/DVD (all optical discs),
                          0x03 magnetic tape (LTO); 0x00 undefined
       set       2 bytes  part n of m (0 0 when the carrier is not part of a set)
       key id    1 byte   which site key signed this label (key rotation)
       label     1+n      length, then the carrier label (A-Z 0-9 _, at most 16)
       kind      1+n      length, then the media kind (CD, DVD, BD, M-DISC, LTO-5 ... LTO-10)
       mac       16 bytes HMAC-SHA256, truncated, over the tag UID, the URI and the bytes above

The MAC covers the tag's UID, so a label copied onto another tag, or edited in any byte, does
not verify; only a holder of the site key can write a genuine one. No patient data: the label
holds an opaque carrier reference, its kind and its set position, nothing else.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass

import ndef

EXTERNAL_TYPE = "urn:nfc:ext:mediatrack:carrier"
VERSION = 1
MAC_LENGTH = 16  # 128 bits: forging needs the key, not luck
LABEL_RE = re.compile(r"[A-Z0-9_]{1,16}")
KINDS = ("CD", "DVD", "BD", "M-DISC", *(f"LTO-{n}" for n in range(5, 11)))
# ISO 28560-1 media format codes (data element "media format").
FORMAT_UNDEFINED, FORMAT_CD_DVD, FORMAT_MAGNETIC_TAPE = 0x00, 0x02, 0x03
# How Web NFC names our two records (W3C Web NFC, NDEFRecord.recordType): "url" for an RTD-URI
# record, an external type without its "urn:nfc:ext:" prefix. The phone page sends them so;
# the laptop agent sends them the same way, and the service checks both alike.
WEB_NFC_URL, WEB_NFC_CARRIER = "url", EXTERNAL_TYPE.removeprefix("urn:nfc:ext:")
# The inventory API takes up to 8 records of at most 256 bytes each; ours are far smaller.
MAX_WEB_NFC_RECORDS, MAX_WEB_NFC_DATA = 8, 256


def media_format(kind: str) -> int:
    if kind.startswith("LTO-"):
        return FORMAT_MAGNETIC_TAPE
    if kind in ("CD", "DVD", "BD", "M-DISC"):
        return FORMAT_CD_DVD
    return FORMAT_UNDEFINED


@dataclass(frozen=True, slots=True)
class CarrierLabel:
    """The facts about a carrier that go on its tag."""

    label: str
    kind: str
    set_number: int | None = None
    set_total: int | None = None

    def __post_init__(self) -> None:
        if not LABEL_RE.fullmatch(self.label):
            raise ValueError("a carrier label is 1 to 16 characters of A-Z, 0-9 and _")
        if self.kind not in KINDS:
            raise ValueError(f"unknown media kind {self.kind!r}; one of {', '.join(KINDS)}")
        if (self.set_number is None) != (self.set_total is None):
            raise ValueError("set number and set total go together")
        if self.set_number is not None and self.set_total is not None and not (
            1 <= self.set_number <= self.set_total <= 255
        ):
            raise ValueError("set position must be 1 <= n <= m <= 255")


class LabelCheck(enum.StrEnum):
    """What a station concludes from a tag's content, offline."""

    GENUINE = "genuine"
    ALTERED = "altered"  # MAC mismatch: edited, or copied from another tag
    UNKNOWN_KEY = "unknown_key"  # signed with a site key this station does not hold
    NOT_OURS = "not_ours"  # readable NDEF, but no MediaTrack record
    BLANK = "blank"  # empty NDEF message


@dataclass(frozen=True, slots=True)
class LabelReading:
    check: LabelCheck
    carrier: CarrierLabel | None = None
    uri: str | None = None

    @property
    def message(self) -> str:
        """One line for the operator."""
        name = self.carrier.label if self.carrier else "this tag"
        return {
            LabelCheck.GENUINE: f"Label of {name} is genuine.",
            LabelCheck.ALTERED: f"Label of {name} was edited or copied from another tag; "
            "do not trust it and report it.",
            LabelCheck.UNKNOWN_KEY: f"Label of {name} was written with a site key this station "
            "does not have.",
            LabelCheck.NOT_OURS: "The tag holds data, but no MediaTrack label.",
            LabelCheck.BLANK: "The tag is blank.",
        }[self.check]


def carrier_uri(public_url: str, label: str) -> str:
    return f"{public_url.rstrip('/')}/c/{label}"


def _mac(key: bytes, uid: str, uri: str, body: bytes) -> bytes:
    material = bytes.fromhex(uid) + len(uri).to_bytes(2, "big") + uri.encode() + body
    return hmac.new(key, material, hashlib.sha256).digest()[:MAC_LENGTH]


def _body(carrier: CarrierLabel, key_id: int) -> bytes:
    label, kind = carrier.label.encode("ascii"), carrier.kind.encode("ascii")
    return (
        bytes([VERSION, media_format(carrier.kind), carrier.set_number or 0,
               carrier.set_total or 0, key_id, len(label)])
        + label + bytes([len(kind)]) + kind
    )


def encode_label(
    carrier: CarrierLabel, *, uid: str, public_url: str, key: bytes, key_id: int = 1
) -> bytes:
    """The NDEF message bytes to write on the tag with UID ``uid``."""
    uri = carrier_uri(public_url, carrier.label)
    body = _body(carrier, key_id)
    records = [
        ndef.UriRecord(uri),
        ndef.Record(EXTERNAL_TYPE, "", body + _mac(key, uid, uri, body)),
    ]
    return b"".join(ndef.message_encoder(records))


def decode_label(message: bytes, *, uid: str, keys: Mapping[int, bytes]) -> LabelReading:
    """Check a tag's NDEF message against the site keys ``{key id: key}``."""
    if not message:
        return LabelReading(LabelCheck.BLANK)
    try:
        records = list(ndef.message_decoder(message))
    except (ndef.DecodeError, ValueError):
        # ndeflib raises a plain ValueError for some malformed headers (e.g. a TNF 1 record
        # whose type is no well-known name), not only DecodeError.
        return LabelReading(LabelCheck.NOT_OURS)
    ours = [r for r in records if r.type == EXTERNAL_TYPE]
    uris = [r.iri for r in records if isinstance(r, ndef.UriRecord)]
    if len(ours) != 1 or len(uris) != 1:
        return LabelReading(LabelCheck.NOT_OURS)
    data = bytes(ours[0].data)
    uri = uris[0]
    try:
        version, _fmt, set_n, set_m, key_id, n = data[:6]
        label = data[6 : 6 + n].decode("ascii")
        m = data[6 + n]
        kind = data[7 + n : 7 + n + m].decode("ascii")
        body, mac = data[: 7 + n + m], data[7 + n + m :]
        carrier = CarrierLabel(label, kind, set_n or None, set_m or None)
    except (ValueError, IndexError):
        # Too short, not ASCII, or not a valid label: someone wrote bytes we never write.
        return LabelReading(LabelCheck.ALTERED)
    if version != VERSION or len(mac) != MAC_LENGTH:
        return LabelReading(LabelCheck.ALTERED, carrier, uri)
    key = keys.get(key_id)
    if key is None:
        return LabelReading(LabelCheck.UNKNOWN_KEY, carrier, uri)
    if not hmac.compare_digest(mac, _mac(key, uid, uri, body)) or not uri.endswith(
        f"/c/{carrier.label}"
    ):
        return LabelReading(LabelCheck.ALTERED, carrier, uri)
    return LabelReading(LabelCheck.GENUINE, carrier, uri)


def web_nfc_records(message: bytes) -> list[tuple[str, str]]:
    """The records of a tag's NDEF message that a label check needs, as ``(type, hex data)``
    pairs named as Web NFC names them: ``("url", hex of the UTF-8 URL)`` and
    ``("mediatrack:carrier", hex of the payload)``. Other records are left out, and a message
    that does not parse gives none (the service then has nothing to check)."""
    try:
        records = list(ndef.message_decoder(message)) if message else []
    except (ndef.DecodeError, ValueError):  # ValueError: see decode_label
        return []
    found: list[tuple[str, str]] = []
    for record in records:
        if isinstance(record, ndef.UriRecord):
            data = record.iri.encode()
            kind = WEB_NFC_URL
        elif record.type == EXTERNAL_TYPE:
            data = bytes(record.data)
            kind = WEB_NFC_CARRIER
        else:
            continue
        if len(data) <= MAX_WEB_NFC_DATA:
            found.append((kind, data.hex()))
    return found[:MAX_WEB_NFC_RECORDS]


def parse_keys(text: str) -> dict[int, bytes]:
    """Site keys from a key file: lines of ``<key id> <hex key>``; ``#`` starts a comment.

    Raises:
        ValueError: a line is malformed or a key is shorter than 16 bytes.
    """
    keys: dict[int, bytes] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            key_id_text, key_hex = line.split()
            key_id, key = int(key_id_text), bytes.fromhex(key_hex)
        except ValueError:
            raise ValueError(f"site key file line {number}: expected '<id> <hex key>'") from None
        if not 0 <= key_id <= 255 or len(key) < 16:
            raise ValueError(f"site key file line {number}: id 0-255, key at least 16 bytes")
        keys[key_id] = key
    return keys
