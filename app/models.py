"""Every table, imported so that ``SQLModel.metadata`` knows them all (migrations, tests)."""

from sqlmodel import SQLModel

from app.audit.models import Checkpoint, CustodyEvent, LogHead
from app.borrowers.models import Borrower
from app.carriers.models import Carrier
from app.custody.models import Loan, Transfer, TransferItem
from app.inventory.models import Campaign, Sighting, SweepRead, SweepSession
from app.locations.models import Location
from app.media.models import FixityCheck, ManifestEntry, MediaIntake
from app.pacs.models import PacsCheck
from app.preservation.models import DestructionRecord, Succession
from app.requests.models import CarrierRequest
from app.scans.models import Scan
from app.site.models import SiteSetting
from app.stations.models import Station
from app.studies.models import CarrierStudy, Study
from app.tags.models import LabelJob, Tag, TagBinding
from app.users.models import User

metadata = SQLModel.metadata

__all__ = [
    "Borrower",
    "Campaign",
    "Carrier",
    "CarrierRequest",
    "CarrierStudy",
    "Checkpoint",
    "CustodyEvent",
    "DestructionRecord",
    "FixityCheck",
    "LabelJob",
    "Location",
    "Loan",
    "LogHead",
    "ManifestEntry",
    "MediaIntake",
    "PacsCheck",
    "Succession",
    "Scan",
    "Sighting",
    "SiteSetting",
    "Station",
    "Study",
    "SweepRead",
    "SweepSession",
    "Tag",
    "TagBinding",
    "Transfer",
    "TransferItem",
    "User",
    "metadata",
]
