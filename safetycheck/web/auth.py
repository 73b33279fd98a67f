"""Signing in and out of the pages, the signed-in user, and `web_login_required`.

The Flask session cookie (signed, HttpOnly, SameSite=Lax, Secure in production) carries only a
random secret; `accounts.sessions` decides on every request whether it still counts, so an
admin revoking someone's tokens or deactivating them ends their pages too. Passwords are
checked by `accounts.signin`, the same code (and the same lock) as the API's sign-in.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, Length

from safetycheck import limits
from safetycheck.accounts import sessions, signin
from safetycheck.accounts.enums import Role
from safetycheck.accounts.models import User, WebSession
from safetycheck.accounts.setup import session_rules, signin_rules
from safetycheck.extensions import db
from safetycheck.localtime import local_zone
from safetycheck.web.home import home_path

F = TypeVar("F", bound=Callable[..., Any])

bp = Blueprint("auth", __name__)

SESSION_KEY = "sid"


def now() -> datetime:
    moment: datetime = current_app.extensions["safetycheck.clock"].now()
    return moment


# --- the signed-in user ----------------------------------------------------------------------


def load_signed_in_user() -> None:
    """Resolve the session cookie once per page request (before the view runs)."""
    if request.endpoint == "web.static":
        return  # a stylesheet needs no database query (and must not vary by cookie)
    if _load():
        # Keep what resolving wrote (last_seen_at, at most once a minute; or the session's end),
        # whatever the view then does with its own transaction.
        db.session.commit()


def _load() -> bool:
    """Set g.web_user and g.web_session; True if a session cookie was looked up."""
    g.web_user, g.web_session = None, None
    secret = session.get(SESSION_KEY)
    if not isinstance(secret, str):
        return False
    record = sessions.resolve_session(
        secret, now=now(), rules=session_rules(current_app), touch=not _is_passive(request.endpoint)
    )
    if record is None:
        session.pop(SESSION_KEY, None)
        g.web_session_ended = True
        return True
    g.web_user, g.web_session = record.user, record
    return True


def passive(view: F) -> F:
    """Mark a view as a page's own background request (the board's poll): it is served as usual
    but does not count as activity, so a board left open still ends after the idle timeout."""
    view.passive_request = True  # type: ignore[attr-defined]
    return view


def _is_passive(endpoint: str | None) -> bool:
    view = current_app.view_functions.get(endpoint or "")
    return bool(getattr(view, "passive_request", False))


def current_web_user() -> User | None:
    """The signed-in person, or None; also usable where `load_signed_in_user` did not run
    (error pages for URLs no page matched)."""
    if "web_user" not in g:
        _load()
    user: User | None = g.web_user
    return user


def current_web_session() -> WebSession | None:
    current_web_user()
    session: WebSession | None = g.web_session
    return session


def web_login_required(*roles: Role) -> Callable[[F], F]:
    """Require a signed-in user and, when roles are given, one of them (else the 403 page).

    Not signed in: a redirect to /login?next=<this page> (or, for an htmx request, 401 with an
    `HX-Redirect` header so the whole page goes to the sign-in page instead of a fragment, and
    comes back to that page, named by htmx's `HX-Current-URL`, after signing in).
    Records outside the user's reach are the domain's business: its NotFound is the 404 page.
    """

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            user = current_web_user()
            if user is None:
                target = request.full_path.rstrip("?") if request.method == "GET" else None
                login = url_for("web.auth.login", next=target)
                if g.get("web_session_ended"):
                    flash("You have been signed out. Sign in again to continue.", "info")
                if request.headers.get("HX-Request"):
                    # Back to the page that polled (htmx names it), not to its fragment.
                    page = _htmx_page()
                    if page:
                        login = url_for("web.auth.login", next=page)
                    return Response(status=401, headers={"HX-Redirect": login})
                return redirect(login)
            if roles and user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator


def _htmx_page() -> str | None:
    """The path of the page an htmx request came from (`HX-Current-URL`), if it is on this site."""
    current = urlsplit(request.headers.get("HX-Current-URL", ""))
    if current.netloc and current.netloc != request.host:
        return None
    return safe_next(current.path + (f"?{current.query}" if current.query else ""))


def safe_next(target: str | None) -> str | None:
    """A `next=` target only if it is a path on this site (no scheme, host or `//` trick)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or any(ord(c) < 32 for c in target):
        return None
    return target


# --- the sign-in and sign-out pages ------------------------------------------------------------


class SignInForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired("Enter your email address"), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired("Enter your password"), Length(max=200)])


@bp.route("/")
def index() -> Response:
    user = current_web_user()
    return redirect(home_path(user.role) if user else url_for("web.auth.login"))  # type: ignore[return-value]


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    next_path = safe_next(request.args.get("next"))
    user = current_web_user()
    if user is not None and request.method == "GET":
        return redirect(next_path or home_path(user.role))
    form = SignInForm()
    status = 200
    submitted = form.validate_on_submit()
    over = None
    if submitted:
        over = limits.hit("RATELIMIT_SIGNIN_PER_ADDRESS", limits.remote_address()) or limits.hit(
            "RATELIMIT_SIGNIN_PER_ACCOUNT", signin.email_digest(form.email.data or "")
        )
    if over is not None:
        status = 429
        form.email.errors = [f"Too many sign-in attempts. Try again in {over.retry_after} seconds."]
    elif submitted:
        moment = now()
        result = signin.attempt(
            email=form.email.data or "",
            password=form.password.data or "",
            now=moment,
            rules=signin_rules(current_app),
            channel="web",
        )
        db.session.commit()  # a failure must be counted even though the sign-in fails
        if result.user is not None:
            _start(result.user, moment)
            return redirect(next_path or home_path(result.user.role))
        if result.locked_until is not None:
            status = 429
            form.email.errors = [_locked_message(result.locked_until, moment)]
        else:
            status = 422
            form.password.errors = [signin.WRONG_CREDENTIALS]
    elif form.errors:
        status = 422
    response = Response(render_template("auth/login.html", form=form, title="Sign in"), status=status)
    if over is not None:
        response.headers["Retry-After"] = str(over.retry_after)
    elif status == 429:
        response.headers["Retry-After"] = str(result.retry_after_seconds(moment))
    return response


def _locked_message(until: datetime, moment: datetime) -> str:
    minutes = max(1, round((until - moment).total_seconds() / 60))
    wait = "1 minute" if minutes == 1 else f"{minutes} minutes"
    after = until.astimezone(local_zone())
    return (
        f"Too many failed sign-ins for this email address. Try again after {after:%H:%M} "
        f"(in about {wait}), or ask an admin to unlock it."
    )


def _start(user: User, moment: datetime) -> None:
    started = sessions.start_session(
        user, now=moment, rules=session_rules(current_app), user_agent=request.user_agent.string
    )
    db.session.commit()
    # A fresh cookie (and CSRF secret) at sign-in, so a session fixed before it is worthless.
    session.clear()
    session[SESSION_KEY] = started.secret
    session.permanent = True


@bp.route("/logout", methods=["POST"])
def logout() -> Response:
    record = current_web_session()
    if record is not None:
        sessions.end_session(record.id, now=now())
        db.session.commit()
    session.clear()
    flash("You have signed out.", "success")
    return redirect(url_for("web.auth.login"))  # type: ignore[return-value]
