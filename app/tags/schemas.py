from __future__ import annotations

from pydantic import Field

from app.core.schemas import Strict
from app.core.validation import TagUid, Technology


class TagBind(Strict):
    tag_uid: TagUid = Field(description="Its length must be one the technology allows.")
    technology: Technology = Technology.ISO14443A
    tag_type: str | None = Field(default=None, max_length=32, pattern=r"^[A-Za-z0-9 _\-]+$")


class LabelJobPublic(Strict):
    """A label for the calling station to write: the NDEF message (hex) goes on the tag with
    ``tag_uid`` as it is, then is read back and compared."""

    id: int
    tag_uid: str
    label: str
    ndef: str


class LabelJobList(Strict):
    data: list[LabelJobPublic]


class LabelJobDone(Strict):
    """What the station found: the tag kept the label (``written``), or why not."""

    written: bool
    reason: str | None = Field(default=None, max_length=200)


class LabelJobState(Strict):
    id: int
    label: str | None  # the carrier the tag labels now
    state: str  # "waiting", "written" or "failed"
    reason: str | None = None
