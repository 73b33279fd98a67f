"""Server-rendered pages: GOV.UK Frontend look, session sign-in, CSRF on every form.

Pages call the domain services directly (never the HTTP API), the same way the API does:
parse the form, check the role and reach, call one service, commit, render or redirect. Every
page blueprint is a child of `web`, so it inherits the signed-in user, the CSRF check and the
static route; see docs/web.md for how to add one.
"""

from __future__ import annotations

from flask import Blueprint, Flask
from jinja2 import ChoiceLoader, PackageLoader, PrefixLoader


def init_app(app: Flask) -> None:
    """Register the pages, their templates, CSRF, error pages and security headers."""
    from safetycheck.web import assets, errors, filters, security
    from safetycheck.web.admin import rota as _admin_rota  # noqa: F401  (its routes join the admin blueprint)
    from safetycheck.web.admin.routes import bp as admin_bp
    from safetycheck.web.app import queue as _app_queue  # noqa: F401  (its routes join the app blueprint)
    from safetycheck.web.app.routes import bp as app_bp
    from safetycheck.web.auth import bp as auth_bp
    from safetycheck.web.auth import load_signed_in_user
    from safetycheck.web.board.routes import bp as board_bp
    from safetycheck.web.incident.routes import bp as incident_bp
    from safetycheck.web.markers.routes import bp as markers_bp
    from safetycheck.web.register.routes import bp as register_bp

    # GOV.UK macros are imported as "govuk_frontend_jinja/components/<name>/macro.html"; the
    # blueprints' own templates are found as usual.
    app.jinja_loader = ChoiceLoader(
        [PrefixLoader({"govuk_frontend_jinja": PackageLoader("govuk_frontend_jinja")})]
    )
    app.jinja_env.add_extension("jinja2.ext.do")  # {% do list.append(...) %} in macros/forms.html

    # Only the pages check CSRF (in `web`'s before_request): the JSON API authenticates with
    # bearer tokens, which a browser never sends by itself, and Twilio signs its webhooks.
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # the token lives as long as the session
    security.csrf.init_app(app)

    web = Blueprint("web", __name__, template_folder="templates")
    web.before_request(security.protect_from_csrf)
    web.before_request(load_signed_in_user)
    web.add_url_rule("/static/<path:filename>", "static", assets.serve_static)
    # Page blueprints: add yours here (its endpoints become "web.<name>.<view>").
    web.register_blueprint(auth_bp)
    web.register_blueprint(admin_bp, url_prefix="/admin")
    web.register_blueprint(incident_bp, url_prefix="/register/incidents")
    web.register_blueprint(markers_bp, url_prefix="/markers")
    web.register_blueprint(register_bp, url_prefix="/register")
    web.register_blueprint(board_bp, url_prefix="/board")
    web.register_blueprint(app_bp, url_prefix="/app")
    app.register_blueprint(web)

    filters.init_app(app)
    security.init_app(app)
    errors.init_app(app)
