"""Bind households to an app: answer what a check-in asks of the register."""

from __future__ import annotations

from flask import Flask

from safetycheck.households import checkin_guard


def init_app(app: Flask) -> None:
    checkin_guard.subscribe()
