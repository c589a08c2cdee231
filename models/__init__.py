"""SQLAlchemy models; importing this package registers every table on ``Base.metadata``."""

from models.base import Base
from models.events import Alarm, AuditEntry, Passage
from models.faces import FaceTemplate
from models.holds import GuidanceHold
from models.people import Household, Resident, User
from models.site import Gate, OccupancySample, Zone, ZonePeriod
from models.vehicles import PlateListEntry, Presence, Vehicle, VisitorPass

__all__ = [
    "Alarm",
    "AuditEntry",
    "Base",
    "FaceTemplate",
    "Gate",
    "GuidanceHold",
    "Household",
    "OccupancySample",
    "Passage",
    "PlateListEntry",
    "Presence",
    "Resident",
    "User",
    "Vehicle",
    "VisitorPass",
    "Zone",
    "ZonePeriod",
]
