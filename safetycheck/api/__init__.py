"""The HTTP layer: blueprints, request/response schemas, auth and error handling.

Views parse, check permission, call one domain function, commit and serialise; nothing else.
"""

from __future__ import annotations

from flask import Flask


def register_api(app: Flask) -> None:
    """Register every blueprint with the app and the OpenAPI document."""
    from safetycheck.api.accounts.routes import blp as accounts_blp
    from safetycheck.api.alarms.routes import blp as alarms_blp
    from safetycheck.api.errors import api
    from safetycheck.api.incidents.procedure_routes import blp as incident_procedure_blp
    from safetycheck.api.incidents.routes import blp as incidents_blp
    from safetycheck.api.markers.routes import blp as markers_blp
    from safetycheck.api.openapi import register_converters
    from safetycheck.api.ops import blp as ops_blp
    from safetycheck.api.rota.routes import blp as rota_blp
    from safetycheck.api.twilio import blp as twilio_blp
    from safetycheck.api.twilio_voice import blp as twilio_voice_blp
    from safetycheck.api.visits.routes import blp as visits_blp

    register_converters(app)
    for blp in (accounts_blp, visits_blp, alarms_blp, incidents_blp, incident_procedure_blp, markers_blp):
        api.register_blueprint(blp, url_prefix="/api/v1")
    api.register_blueprint(rota_blp, url_prefix="/api/v1")
    app.register_blueprint(ops_blp)
    app.register_blueprint(twilio_blp)
    app.register_blueprint(twilio_voice_blp)
