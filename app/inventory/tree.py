"""The location tree as inventory sees it: a campaign's scope and the shelves to sweep in it.

Loaded whole (one query of a few columns): a hospital has thousands of places, not millions, and
every question here ("is this place inside that one?") is then a walk up parent links in memory.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlmodel import Session

from app.locations.models import Location
from app.locations.schemas import LocationKind

# Places that are never swept: a desk is a workplace, a courier a vehicle.
NOT_SHELVES = frozenset({LocationKind.DESK.value, LocationKind.COURIER.value})


@dataclass(frozen=True, slots=True)
class Place:
    id: int
    code: str
    kind: str
    parent_id: int | None
    path: str


class Tree:
    def __init__(self, places: Iterable[Place]) -> None:
        self.by_id = {p.id: p for p in places}
        self.by_code = {p.code: p for p in self.by_id.values()}
        self._children: dict[int, list[int]] = {}
        for place in self.by_id.values():
            if place.parent_id is not None:
                self._children.setdefault(place.parent_id, []).append(place.id)

    @classmethod
    def load(cls, session: Session) -> Tree:
        cols = (Location.id, Location.code, Location.kind, Location.parent_id, Location.path)
        rows = session.execute(select(*cols)).all()  # type: ignore[call-overload]
        return cls(Place(*row) for row in rows)

    def within(self, place_id: int | None, ancestor_id: int) -> bool:
        """``place_id`` is ``ancestor_id`` or somewhere under it."""
        seen = 0
        while place_id is not None and seen <= len(self.by_id):
            if place_id == ancestor_id:
                return True
            place = self.by_id.get(place_id)
            place_id = place.parent_id if place else None
            seen += 1  # a cycle in bad data must not hang a request
        return False

    def subtree(self, root_id: int) -> list[int]:
        """``root_id`` and every place under it, parents before children."""
        order, stack = [], [root_id]
        while stack:
            place_id = stack.pop()
            order.append(place_id)
            stack.extend(reversed(self._children.get(place_id, [])))
        return order

    def shelves(self, root_id: int) -> list[int]:
        """The places of a scope that hold carriers on a shelf: its leaves, desks and couriers
        aside (a place with carriers stored on it directly joins them in the reports)."""
        return [
            place_id
            for place_id in self.subtree(root_id)
            if not self._children.get(place_id) and self.by_id[place_id].kind not in NOT_SHELVES
        ]

    def path(self, place_id: int | None) -> str | None:
        return self.by_id[place_id].path if place_id in self.by_id else None

    def code(self, place_id: int | None) -> str | None:
        return self.by_id[place_id].code if place_id in self.by_id else None
