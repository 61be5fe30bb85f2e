"""THE transition table: which move a carrier's state allows.

The custody service (and tag binding) check it before every move, and a scan's answer lists
the moves it allows as "what you can do next", so the two cannot disagree. Each action is the
name of its route (``app.url_path_for("checkout", label=...)``), so a page can render its
buttons from the list. A move may check more than the state (retire: every study safe
elsewhere; dispatch: all from one place; checkout: a purpose of use); destruction is a
preservation decision (retention, witness) and is not offered here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from app.carriers.schemas import CarrierStatus
from app.core.errors import NC_

Status = CarrierStatus


class Action(StrEnum):
    """In the order a desk offers them: the move the state is waiting for comes first."""

    CHECKOUT = "checkout"
    RETURN = "return"
    RECEIVE = "receive"
    FOUND = "found"
    STORE = "store"
    DISPATCH = "dispatch"
    TAG = "tag"
    MISSING = "missing"
    HOLD = "hold"
    RELEASE = "release"
    RETIRE = "retire"


@dataclass(frozen=True)
class Move:
    allowed_from: frozenset[CarrierStatus]
    doing: str  # "It cannot be <doing> now." (marked with its context "move")
    # The legal hold the move needs: False (blocked by a hold), True (only under one), None.
    hold: bool | None = None


_PRESENT = frozenset(Status) - {Status.DESTROYED}

MOVES: dict[Action, Move] = {
    Action.CHECKOUT: Move(frozenset({Status.IN_STORAGE}), NC_("move", "lent out"), hold=False),
    Action.RETURN: Move(frozenset({Status.CHECKED_OUT}), NC_("move", "taken back")),
    Action.RECEIVE: Move(frozenset({Status.IN_TRANSIT}), NC_("move", "received")),
    Action.FOUND: Move(frozenset({Status.MISSING}), NC_("move", "recorded as found")),
    Action.STORE: Move(
        frozenset({Status.REGISTERED, Status.FOUND, Status.IN_STORAGE}),
        NC_("move", "put in storage"),
    ),
    Action.DISPATCH: Move(frozenset({Status.IN_STORAGE}), NC_("move", "dispatched"), hold=False),
    Action.TAG: Move(_PRESENT, NC_("move", "tagged")),
    Action.MISSING: Move(
        frozenset(
            {
                Status.REGISTERED,
                Status.IN_STORAGE,
                Status.CHECKED_OUT,
                Status.IN_TRANSIT,
                Status.FOUND,
            }
        ),
        NC_("move", "reported missing"),
    ),
    Action.HOLD: Move(_PRESENT, NC_("move", "placed under legal hold"), hold=False),
    Action.RELEASE: Move(_PRESENT, NC_("move", "released from legal hold"), hold=True),
    Action.RETIRE: Move(frozenset({Status.IN_STORAGE}), NC_("move", "retired"), hold=False),
}


def state_allows(action: Action, status: CarrierStatus | str) -> bool:
    """The carrier's status allows the move (its legal hold aside)."""
    return CarrierStatus(status) in MOVES[action].allowed_from


def hold_allows(action: Action, legal_hold: bool) -> bool:
    """The carrier's legal hold (or its absence) allows the move."""
    needed = MOVES[action].hold
    return needed is None or needed == legal_hold


def next_actions(status: CarrierStatus | str, *, legal_hold: bool) -> list[str]:
    """Every move a carrier in this state allows, in the order a desk offers them."""
    return [
        action.value
        for action in MOVES
        if state_allows(action, status) and hold_allows(action, legal_hold)
    ]
