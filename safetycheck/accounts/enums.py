"""Roles a user can hold; the stored values are the strings clients see."""

from enum import StrEnum


class Role(StrEnum):
    PRACTITIONER = "practitioner"
    MANAGER = "manager"
    HS_LEAD = "hs_lead"
    ADMIN = "admin"
