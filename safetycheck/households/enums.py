"""Stored values of households and markers (StrEnum: the values are the stored strings)."""

from __future__ import annotations

from enum import StrEnum


class MarkerStatus(StrEnum):
    PROPOSED = "proposed"
    ACTIVE = "active"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"


class MarkerControl(StrEnum):
    JOINT_VISIT = "joint_visit"  # a lone check-in is refused; name a companion
    OFFICE_ONLY = "office_only"  # no home visits at all
    WRITTEN_AGREEMENT = "written_agreement"  # shown as a warning
