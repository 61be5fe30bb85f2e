"""Label a carrier's tag: write, read back, compare, optionally lock or protect, then bind.

The service learns of the tag (``POST /carriers/{label}/tag``) only after the read-back matched,
so a tag lifted half-way or a tag that does not keep its data is never bound. Run it with
``python -m readers.labelling --reader URL --server URL --site-keys FILE LABEL``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from readers.base import EventKind, Reader, TagSession
from readers.carrier_label import CarrierLabel, LabelCheck, decode_label, encode_label, parse_keys
from readers.client import ServiceClient, ServiceError
from readers.errors import ReaderError, TagCommandError


@dataclass(frozen=True, slots=True)
class LabelResult:
    carrier: CarrierLabel
    uid: str
    locked: bool
    protected: bool


def label_tag(
    session: TagSession,
    client: ServiceClient,
    label: str,
    *,
    public_url: str,
    keys: dict[int, bytes],
    key_id: int,
    lock: bool = False,
    password: bytes | None = None,
) -> LabelResult:
    """Write the label of carrier ``label`` on the tag of ``session`` and bind it.

    Raises:
        ServiceError: the carrier is unknown (404) or the tag is bound elsewhere (409).
        ReaderError: the tag was lifted, refused a write or did not keep the data; nothing
            was bound.
    """
    found = client.get_carrier(label)
    carrier = CarrierLabel(found["label"], found["kind"], found.get("set_number"),
                           found.get("set_total"))
    message = encode_label(carrier, uid=session.uid, public_url=public_url,
                           key=keys[key_id], key_id=key_id)
    session.write_ndef(message)
    written = session.read_ndef()
    if written != message or decode_label(written, uid=session.uid, keys=keys).check is not (
        LabelCheck.GENUINE
    ):
        raise TagCommandError("The tag did not keep the label as written; use another tag.")
    if password is not None:
        session.protect(password)
    if lock:
        session.make_read_only()
    client.bind_tag(carrier.label, session.uid, session.technology, session.tag_type)
    return LabelResult(carrier, session.uid, locked=lock, protected=password is not None)


def label_next_tag(
    reader: Reader,
    client: ServiceClient,
    label: str,
    *,
    timeout: float,
    public_url: str,
    keys: dict[int, bytes],
    key_id: int,
    lock: bool = False,
) -> LabelResult:
    """Wait up to ``timeout`` seconds for a tag on ``reader`` and label it."""
    while True:
        event = reader.next_event(timeout)
        if event is None:
            raise ReaderError("No tag was placed on the reader in time.")
        if event.kind is EventKind.ERROR:
            raise ReaderError(event.message)
        if event.kind is EventKind.ARRIVED:
            with reader.session(event) as session:
                return label_tag(session, client, label, public_url=public_url, keys=keys,
                                 key_id=key_id, lock=lock)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mediatrack label",
                                     description="Write a carrier's label on a tag.")
    parser.add_argument("label")
    parser.add_argument("--reader", required=True, help="reader URL, e.g. pcsc://")
    parser.add_argument("--server", required=True, help="service URL")
    parser.add_argument("--key-file", type=Path, help="file with the station API key "
                        "(default: $MEDIATRACK_STATION_KEY)")
    parser.add_argument("--site-keys", type=Path, required=True,
                        help="site key file: lines of '<id> <hex key>'")
    parser.add_argument("--key-id", type=int, help="site key to sign with (default: highest)")
    parser.add_argument("--public-url", help="base URL the tag's link opens (default: --server)")
    parser.add_argument("--lock", action="store_true", help="make the tag read-only for ever")
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args(argv)

    from readers.registry import open_reader

    api_key = (args.key_file.read_text().strip() if args.key_file
               else os.environ.get("MEDIATRACK_STATION_KEY", ""))
    keys = parse_keys(args.site_keys.read_text())
    if not api_key or not keys:
        print("A station API key and at least one site key are needed.", file=sys.stderr)
        return 2
    client = ServiceClient(args.server, api_key)
    try:
        with open_reader(args.reader) as reader:
            print(f"Place the tag for {args.label} on the reader.", flush=True)
            result = label_next_tag(
                reader, client, args.label, timeout=args.timeout,
                public_url=args.public_url or args.server, keys=keys,
                key_id=args.key_id if args.key_id is not None else max(keys), lock=args.lock,
            )
    except (ReaderError, ServiceError) as exc:
        print(f"Not labelled: {exc}", file=sys.stderr)
        return 1
    finally:
        client.close()
    print(f"Tag {result.uid} now labels {result.carrier.kind} {result.carrier.label}"
          f"{' (locked)' if result.locked else ''}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
