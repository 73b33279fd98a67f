"""Incident, workflow, track and marker vocabularies, stored as these strings."""

from __future__ import annotations

from enum import StrEnum


class IncidentCategory(StrEnum):
    PHYSICAL_ASSAULT = "physical_assault"
    ATTEMPTED_ASSAULT = "attempted_assault"
    THREAT = "threat"
    THREAT_WITH_WEAPON = "threat_with_weapon"
    VERBAL_ABUSE = "verbal_abuse"
    HARASSMENT = "harassment"
    SEXUAL_HARASSMENT = "sexual_harassment"
    SEXUAL_ASSAULT = "sexual_assault"
    PREVENTED_FROM_LEAVING = "prevented_from_leaving"
    HATE_INCIDENT = "hate_incident"
    ANIMAL = "animal"
    PROPERTY_DAMAGE = "property_damage"
    ENVIRONMENTAL_HAZARD = "environmental_hazard"
    OTHER = "other"

    @property
    def plain(self) -> str:
        """Plain words for texts and exports ("a physical assault")."""
        return _PLAIN[self]


_PLAIN = {
    IncidentCategory.PHYSICAL_ASSAULT: "a physical assault",
    IncidentCategory.ATTEMPTED_ASSAULT: "an attempted assault",
    IncidentCategory.THREAT: "a threat",
    IncidentCategory.THREAT_WITH_WEAPON: "a threat with a weapon",
    IncidentCategory.VERBAL_ABUSE: "verbal abuse",
    IncidentCategory.HARASSMENT: "harassment",
    IncidentCategory.SEXUAL_HARASSMENT: "sexual harassment",
    IncidentCategory.SEXUAL_ASSAULT: "a sexual assault",
    IncidentCategory.PREVENTED_FROM_LEAVING: "being prevented from leaving",
    IncidentCategory.HATE_INCIDENT: "a hate incident",
    IncidentCategory.ANIMAL: "an incident with an animal",
    IncidentCategory.PROPERTY_DAMAGE: "property damage",
    IncidentCategory.ENVIRONMENTAL_HAZARD: "an environmental hazard",
    IncidentCategory.OTHER: "an incident",
}

# Physical violence, weapons, sexual incidents and being held: the manager must reach the worker
# within minutes, so these also text on-call and raise an alarm the sweep chases until a manager
# acknowledges. An attempted assault is physical violence that did not land; sexual harassment
# is a sexual incident. Both are in: under-reacting costs more than one extra text.
SERIOUS_CATEGORIES = frozenset(
    {
        IncidentCategory.PHYSICAL_ASSAULT,
        IncidentCategory.ATTEMPTED_ASSAULT,
        IncidentCategory.THREAT_WITH_WEAPON,
        IncidentCategory.SEXUAL_ASSAULT,
        IncidentCategory.SEXUAL_HARASSMENT,
        IncidentCategory.PREVENTED_FROM_LEAVING,
    }
)

# Categories that are physical violence for the RIDDOR screen (the default; triage may correct it).
PHYSICAL_CATEGORIES = frozenset({IncidentCategory.PHYSICAL_ASSAULT, IncidentCategory.SEXUAL_ASSAULT})


class IncidentStatus(StrEnum):
    DRAFT = "draft"  # opened from an alarm; not in the register until the worker confirms it
    REPORTED = "reported"
    ACKNOWLEDGED = "acknowledged"  # a manager has contacted the worker
    TRIAGED = "triaged"
    UNDER_INVESTIGATION = "under_investigation"
    ACTIONS_OPEN = "actions_open"
    HS_REVIEW = "hs_review"
    INFORMATION_REQUIRED = "information_required"  # a question back to the reporter
    CLOSED = "closed"


class NearMissKind(StrEnum):
    DID_NOT_ENTER = "did_not_enter"
    LEFT_EARLY = "left_early"
    ASKED_FOR_JOINT_VISIT = "asked_for_joint_visit"

    @property
    def plain(self) -> str:
        return self.value.replace("_", " ")


class Harm(StrEnum):
    """How badly the worker was hurt, as judged at triage."""

    NONE = "none"
    PSYCHOLOGICAL = "psychological"  # distress without physical injury
    MINOR = "minor"  # first aid
    MODERATE = "moderate"  # treatment, time off
    SEVERE = "severe"  # specified injury, hospital


class InvestigationLevel(StrEnum):
    NONE = "none"  # recorded and reviewed, nothing to investigate
    MANAGER_REVIEW = "manager_review"
    LOCAL = "local"
    FULL = "full"  # serious: independent investigator


class RiddorState(StrEnum):
    """Where an incident stands on the RIDDOR track; kept on the incident for register filters."""

    NOT_REPORTABLE = "not_reportable"
    RECORD_ONLY = "record_only"
    PENDING = "pending"  # physical violence, incapacity not yet known to be over 7 days
    REPORTABLE = "reportable"  # over-7-day, specified injury or death, not yet reported
    SUBMITTED = "submitted"  # reported to HSE, reference kept


class DebriefResponse(StrEnum):
    ACCEPTED = "accepted"
    DECLINED = "declined"


class ActionStatus(StrEnum):
    OPEN = "open"
    DONE = "done"
    CANCELLED = "cancelled"
