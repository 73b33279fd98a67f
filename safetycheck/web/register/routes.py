"""/register and /register/summary: the near-miss and violence register for leads and managers.

Leads and admins see every team, managers their own team's incidents (the domain's reach, as in
the API). Filters are a GET form, so every view of the register is a URL that can be bookmarked
or sent on; the CSV link carries the same query string and exports exactly those rows.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, render_template, request, stream_with_context, url_for

from safetycheck.accounts.enums import Role
from safetycheck.accounts.models import User
from safetycheck.reporting import figures, listing, register, summary, trends
from safetycheck.reporting.register import DEFAULT_SORT
from safetycheck.web.auth import current_web_user, now, web_login_required
from safetycheck.web.register import charts
from safetycheck.web.register.forms import (
    PeriodForm,
    RegisterFilterForm,
    category_label,
    status_label,
)

bp = Blueprint("register", __name__)

MAX_SUMMARY_SPAN = timedelta(days=3653)

leads_and_managers = web_login_required(Role.HS_LEAD, Role.MANAGER, Role.ADMIN)

# Column headings that sort, in table order: (sort key, heading).
SORTABLE = {
    "id": "No.",
    "occurred_at": "Occurred",
    "category": "Category",
    "status": "Status",
    "risk_score": "Risk",
    "reported_at": "Reported",
}


def _me() -> User:
    user = current_web_user()
    assert user is not None  # the decorator ran first
    return user


def _filter_form(user: User) -> RegisterFilterForm:
    form = RegisterFilterForm(request.args)
    form.set_teams(listing.teams_in_reach(user))
    return form


def _query(**changes: Any) -> str:
    """This page's query string with some values changed (None drops one); empty values left out."""
    args = {k: v for k, v in request.args.items(multi=False) if v != ""}
    for key, value in changes.items():
        if value is None:
            args.pop(key, None)
        else:
            args[key] = str(value)
    return urlencode(args)


def _sort_links(current: str) -> dict[str, dict[str, str]]:
    """Each sortable heading's link (the other direction when it is the current sort) and aria-sort."""
    key, descending = current.lstrip("-"), current.startswith("-")
    links = {}
    for name in SORTABLE:
        if name == key:
            target = name if descending else f"-{name}"
            aria = "descending" if descending else "ascending"
        else:
            target = f"-{name}" if name in ("occurred_at", "reported_at", "risk_score") else name
            aria = "none"
        links[name] = {"href": "?" + _query(sort=target, page=None), "aria_sort": aria}
    return links


@bp.route("")
@leads_and_managers
def index() -> Any:
    user = _me()
    form = _filter_form(user)
    if not form.validate():
        return render_template("register/index.html", title="Register", form=form, result=None), 422
    filters = form.filters()
    result = listing.register_page(user, filters, page=form.page_number(), per_page=form.rows_per_page())
    household = filters["household_id"]
    return render_template(
        "register/index.html",
        title="Register",
        form=form,
        result=result,
        household=listing.household_address(user, household) if household else None,
        sort_links=_sort_links(filters["sort"]),
        headings=SORTABLE,
        csv_url=url_for(".export_csv") + ("?" + q if (q := _query(page=None, per_page=None)) else ""),
        page_url=lambda n: "?" + _query(page=n),
        category_label=category_label,
        status_label=status_label,
        is_default_sort=filters["sort"] == DEFAULT_SORT,
    )


@bp.route("/export.csv")
@leads_and_managers
def export_csv() -> Any:
    """The filtered register as CSV, streamed: the API's export, with the page's filters."""
    user = _me()
    form = _filter_form(user)
    if not form.validate():
        return render_template("register/index.html", title="Register", form=form, result=None), 422
    stamp = now().strftime("%Y%m%d-%H%M")
    return Response(
        stream_with_context(register.export_rows(user, form.filters())),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="incidents-{stamp}.csv"'},
    )


@bp.route("/summary")
@leads_and_managers
def summary_page() -> Any:
    user = _me()
    form = PeriodForm(request.args)
    form.set_teams(listing.teams_in_reach(user))
    if not form.validate():
        return render_template("register/summary.html", title="Summary", form=form, data=None), 422
    moment = now()
    chosen = form.period_filters()
    default = summary.default_period(moment)
    period = summary.Period(chosen["occurred_from"] or default.start, chosen["occurred_to"] or moment)
    if period.end - period.start > MAX_SUMMARY_SPAN:
        # A month per row and per bar: decades would be a page nobody can read (and a slow one).
        form.occurred_from.errors = ["From must be at most 10 years before To: choose a shorter period"]
        return render_template("register/summary.html", title="Summary", form=form, data=None), 422
    team_id = chosen["team_id"]
    gathered = figures.gather(user, period=period, now=moment, team_id=team_id)
    data = summary.summarise(user, period=period, now=moment, team_id=team_id, figures=gathered)
    trend = trends.monthly_by_category(user, period=period, team_id=team_id, figures=gathered)
    lag = trends.lag_bands(user, period=period, team_id=team_id, figures=gathered)
    return render_template(
        "register/summary.html",
        title="Summary",
        form=form,
        data=data,
        trend=trend,
        lag=lag,
        chart_data=charts.chart_data(data, trend, lag),
        category_label=category_label,
        status_label=status_label,
        register_query=_query,
    )
