"""Visits: a practitioner's check-in at an address, its due time, extensions and check-out."""
