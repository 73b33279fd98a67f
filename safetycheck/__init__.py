"""SafetyCheck: lone-worker safety for home visits."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask

from safetycheck.clock import Clock, SystemClock


def create_app(test_config: dict[str, Any] | None = None, *, clock: Clock | None = None) -> Flask:
    """Build the app: settings, extensions, blueprints, error handlers, CLI; nothing else."""
    from safetycheck import cli, headers, limits, ops, web
    from safetycheck.accounts import setup as accounts_setup
    from safetycheck.api import register_api
    from safetycheck.api.errors import register_error_handlers
    from safetycheck.api.openapi import spec_kwargs
    from safetycheck.escalation import setup as escalation_setup
    from safetycheck.extensions import api, db, migrate
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
    web.init_app(app)  # after the API: its error pages wrap the API's JSON error handlers
    return app


def _import_models() -> None:
    """Import every model module so that metadata (and Alembic) sees all tables."""
    import safetycheck.accounts.jobs  # registers the sign-in clean-up with the sweep
    import safetycheck.accounts.models
    import safetycheck.escalation.models
    import safetycheck.incidents.jobs  # registers the incident tasks with the sweep
    import safetycheck.incidents.models
    import safetycheck.timeline.models
    import safetycheck.visits.models
    import safetycheck.visits.retention  # noqa: F401  registers the retention of visit details


def _migrations_dir() -> Any:
    from safetycheck.paths import MIGRATIONS_DIR

    return MIGRATIONS_DIR
