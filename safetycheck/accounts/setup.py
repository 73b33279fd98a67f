"""Bind accounts to an app: the sign-in and session rules from settings, and the sign-in metric."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask

from safetycheck import ops
from safetycheck.accounts.sessions import SessionRules
from safetycheck.accounts.signin import SIGNIN_FAILURES, SigninRules


def init_app(app: Flask) -> None:
    cfg = app.config
    app.extensions["safetycheck.signin_rules"] = SigninRules(
        lock_after=cfg["SIGNIN_LOCK_AFTER_FAILURES"],
        lock_seconds=cfg["SIGNIN_LOCK_SECONDS"],
        lock_max_seconds=max(cfg["SIGNIN_LOCK_MAX_SECONDS"], cfg["SIGNIN_LOCK_SECONDS"]),
    )
    app.extensions["safetycheck.session_rules"] = SessionRules(
        idle=timedelta(minutes=cfg["WEB_SESSION_IDLE_MINUTES"]),
        maximum=timedelta(hours=cfg["WEB_SESSION_MAX_HOURS"]),
    )
    # The cookie lasts as long as the longest session could; the database decides sooner ends.
    app.permanent_session_lifetime = timedelta(hours=cfg["WEB_SESSION_MAX_HOURS"])
    ops.registry(app).register(SIGNIN_FAILURES)


def signin_rules(app: Flask) -> SigninRules:
    rules: SigninRules = app.extensions["safetycheck.signin_rules"]
    return rules


def session_rules(app: Flask) -> SessionRules:
    rules: SessionRules = app.extensions["safetycheck.session_rules"]
    return rules
