"""SafetyCheck: lone-worker safety for home visits."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask

from safetycheck.clock import Clock, SystemClock


def create_app(test_config: dict[str, Any] | None = None, *, clock: Clock | None = None) -> Flask:
    """Build the app: settings, extensions, blueprints, error handlers, CLI; nothing else."""
    from safetycheck import cli, headers, hooks, limits, ops, web
    from safetycheck.accounts import setup as accounts_setup
    from safetycheck.api import register_api
    from safetycheck.api.errors import api, register_error_handlers
    from safetycheck.api.openapi import spec_kwargs
    from safetycheck.engine import setup as engine_setup
    from safetycheck.escalation import setup as escalation_setup
    from safetycheck.extensions import db, migrate
    from safetycheck.households import setup as households_setup
    from safetycheck.incidents import setup as incidents_setup
    from safetycheck.settings import load_settings

    # No app-level static folder: the pages serve /static/ themselves, with content hashes.
    app = Flask(__name__, instance_relative_config=True, static_folder=None)
    load_settings(app, test_config)
    logging.basicConfig(level=app.config.get("LOG_LEVEL", "INFO"))
    # Every sweep would log twice a second, and the twilio SDK logs each request URL with the
    # phone number in it.
    for noisy in ("apscheduler", "twilio.http_client"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    app.extensions["safetycheck.clock"] = clock or SystemClock()

    app.config.update(
        API_TITLE="SafetyCheck",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="/docs",
        OPENAPI_SWAGGER_UI_URL="/docs/static/",
        SQLALCHEMY_TRACK_MODIFICATIONS=False,
    )
    _import_models()
    db.init_app(app)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            from safetycheck.db import configure_sqlite

            configure_sqlite(db.engine)
        elif not app.config["SQLALCHEMY_ENGINE_OPTIONS"].get("pool_pre_ping"):
            from safetycheck.connection_checks import check_connections_when_in_doubt

            check_connections_when_in_doubt(db.engine, app.config["DATABASE_PING_AFTER_IDLE"])
    migrate.init_app(app, db, directory=str(_migrations_dir()))
    api.init_app(app, spec_kwargs=spec_kwargs())
    register_error_handlers(app)
    headers.init_app(app)
    register_api(app)
    ops.init_app(app)
    limits.init_app(app)
    cli.register(app)
    accounts_setup.init_app(app)
    escalation_setup.init_app(app)
    households_setup.init_app(app)
    incidents_setup.init_app(app)
    web.init_app(app)  # after the API: its error pages wrap the API's JSON error handlers
    hooks.check_wiring()  # a required event nobody acts on must stop the start, not fail silently
    engine_setup.init_app(app)  # last: the in-process scheduler may sweep at once
    return app


def _import_models() -> None:
    """Import every model module so that metadata (and Alembic) sees all tables, and every module
    of sweep parts so that they register with the engine (the stages order them, not this list)."""
    import safetycheck.accounts.jobs
    import safetycheck.accounts.models
    import safetycheck.accounts.rota_models
    import safetycheck.engine.models
    import safetycheck.escalation.call_models
    import safetycheck.escalation.calls
    import safetycheck.escalation.coverage_jobs
    import safetycheck.escalation.coverage_models
    import safetycheck.escalation.models
    import safetycheck.escalation.rota_notices
    import safetycheck.escalation.sweep_parts
    import safetycheck.households.models
    import safetycheck.incidents.jobs
    import safetycheck.incidents.models
    import safetycheck.incidents.retention
    import safetycheck.reporting.models
    import safetycheck.reporting.rollups
    import safetycheck.timeline.models
    import safetycheck.visits.jobs
    import safetycheck.visits.models  # noqa: F401


def _migrations_dir() -> Any:
    from safetycheck.paths import MIGRATIONS_DIR

    return MIGRATIONS_DIR
