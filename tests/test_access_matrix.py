"""Every route of the app (API and pages), called as every kind of caller, answers as this
table says. A route missing from the table fails `test_every_route_has_an_entry`.

How to add an entry (one line per route, keyed by its endpoint name, `flask routes` shows it):

    "web.board.index": Page("GET", "/board", "403 403 ok ok 403 ok ok"),

- `Api(...)` for JSON routes, `Page(...)` for pages (signed in through /login, forms with CSRF);
  method and URL: `{visit}`, `{alarm}`, `{incident}`, `{marker}`, `{household}`, `{action}` are
  team A's records, all belonging to practitioner P; `{user}` is a practitioner T of team A who
  never calls anything (admin actions land on them).
- the expected answers, in this column order (the callers):
      P   the practitioner whose records they are (team A)
      C   a colleague practitioner in team A
      M   a manager of team A
      OM  a manager of team B
      OP  a practitioner of team B
      L   the health-and-safety lead (no team)
      A   the admin
  each one of `ok` (got past authentication, role and reach: 2xx, 3xx other than to /login,
  409 or 422), `401`, `403`, `404`, `login` (a page's redirect to /login), `400` or `503`;
  any other 5xx always fails.
- `anon`: the answer with no token, an expired token and a revoked one (for pages: no session,
  an expired one and one ended); `401` for the API, `LOGIN` for pages, `ok` for public routes.
- `body`: the JSON (API) or form (pages) sent; give a valid one for writes on a
  record, or a 422 would hide whether the caller could reach it.

`SAFETYCHECK_MATRIX_DISCOVER=1 ./dev test tests/test_access_matrix.py -s --no-cov` prints what
each route answers instead of checking, to draft a new entry (then read it: is that right?).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date, time, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from safetycheck.accounts import rota_service
from safetycheck.accounts import service as account_service
from safetycheck.accounts.models import WebSession
from safetycheck.accounts.rota_models import ShiftUnit
from safetycheck.extensions import db
from tests import factories
from tests.web.conftest import WebClient

CALLERS = ("P", "C", "M", "OM", "OP", "L", "A")
LOGIN = "login"
DISCOVER = bool(os.environ.get("SAFETYCHECK_MATRIX_DISCOVER"))

# Shorthands for common rows.
EVERYONE = "ok ok ok ok ok ok ok"
ADMIN = "403 403 403 403 403 403 ok"
NOT_PRACTITIONERS = "403 403 ok ok 403 ok ok"
PRACTITIONERS = "ok ok 403 403 ok 403 403"
NOBODY = "403 403 403 403 403 403 403"  # Twilio's webhooks: a signature, not a login
# Team A's record of P: P, A's manager, the lead and the admin reach it; team B and C do not.
TEAM_A_RECORD = "ok 404 ok 404 404 ok ok"
# Team A's incident or marker handled by staff: A's manager, the lead and the admin.
STAFF_RECORD = "403 403 ok 404 403 ok ok"
# Only team A's manager and the admin act on it; the lead reads it.
TEAM_MANAGERS = "403 403 ok 404 403 403 ok"


@dataclass(frozen=True)
class Api:
    method: str
    url: str
    expect: str
    anon: str = "401"
    body: Any = None
    page: bool = False


def Page(method: str, url: str, expect: str, anon: str = LOGIN, body: Any = None) -> Api:
    return Api(method, url, expect, anon=anon, body=body, page=True)


NOW = "2026-03-02T09:00:00+00:00"
SOON = "2026-03-09T09:00:00+00:00"

MATRIX: dict[str, Api] = {
    # --- API: accounts
    "accounts.create_token": Api(
        "POST",
        "/api/v1/auth/tokens",
        EVERYONE,
        anon="ok",
        body={"email": "x@example.test", "password": "wrong-password", "device": "d"},
    ),
    "accounts.delete_current_token": Api("DELETE", "/api/v1/auth/tokens/current", EVERYONE),
    "accounts.get_me": Api("GET", "/api/v1/me", EVERYONE),
    "accounts.put_duress_pin": Api("PUT", "/api/v1/me/duress-pin", EVERYONE, body={"pin": "4826"}),
    "accounts.create_team": Api("POST", "/api/v1/teams", ADMIN, body={"name": "Team C"}),
    "accounts.create_user": Api("POST", "/api/v1/users", ADMIN, body={}),
    "accounts.list_users": Api("GET", "/api/v1/users", ADMIN),
    "accounts.get_user": Api("GET", "/api/v1/users/{user}", ADMIN),
    "accounts.update_user": Api("PATCH", "/api/v1/users/{user}", ADMIN, body={"on_call": False}),
    "accounts.unlock_user": Api("POST", "/api/v1/users/{user}/unlock", ADMIN),
    "accounts.revoke_user_tokens": Api("DELETE", "/api/v1/users/{user}/tokens", ADMIN),
    # --- API: visits
    "visits.check_in": Api(
        "POST", "/api/v1/visits", PRACTITIONERS, body={"address": "2 Test Street", "duration_minutes": 30}
    ),
    "visits.list_visits": Api("GET", "/api/v1/visits", EVERYONE),
    "visits.get_visit": Api("GET", "/api/v1/visits/{visit}", TEAM_A_RECORD),
    "visits.extend": Api(
        "POST", "/api/v1/visits/{visit}/extend", "ok 404 403 403 404 403 403", body={"minutes": 10}
    ),
    "visits.checkout": Api("POST", "/api/v1/visits/{visit}/checkout", "ok 404 403 403 404 403 403", body={}),
    "visits.post_location": Api(
        "POST",
        "/api/v1/visits/{visit}/location",
        "ok 404 403 403 404 403 403",
        body={"lat": 53.8, "lon": -1.55, "accuracy_m": 10},
    ),
    # --- API: alarms
    "alarms.raise_panic": Api("POST", "/api/v1/alarms", PRACTITIONERS, body={"kind": "panic"}),
    "alarms.list_alarms": Api("GET", "/api/v1/alarms", NOT_PRACTITIONERS),
    "alarms.get_alarm": Api("GET", "/api/v1/alarms/{alarm}", "403 403 ok 404 403 ok ok"),
    "alarms.acknowledge": Api("POST", "/api/v1/alarms/{alarm}/acknowledge", "403 403 ok 404 403 403 ok"),
    "alarms.resolve": Api(
        "POST", "/api/v1/alarms/{alarm}/resolve", "403 403 ok 404 403 403 ok", body={"outcome": "false_alarm"}
    ),
    # --- API: incidents and the register
    "incidents.report": Api("POST", "/api/v1/incidents", EVERYONE, body={}),
    "incidents.report_near_miss": Api("POST", "/api/v1/incidents/near-miss", EVERYONE, body={}),
    "incidents.list_incidents": Api("GET", "/api/v1/incidents", EVERYONE),
    "incidents.export_csv": Api("GET", "/api/v1/incidents/export.csv", NOT_PRACTITIONERS),
    "incidents.incident_summary": Api("GET", "/api/v1/incidents/summary", NOT_PRACTITIONERS),
    "incidents.get_incident": Api("GET", "/api/v1/incidents/{incident}", TEAM_A_RECORD),
    "incidents.update_incident": Api(
        "PATCH",
        "/api/v1/incidents/{incident}",
        "ok 404 ok 404 404 403 ok",
        body={"description": "Shouted at on the doorstep, then followed."},
    ),
    "incidents.confirm": Api(
        "POST",
        "/api/v1/incidents/{incident}/confirm",
        "ok 404 ok 404 404 403 ok",
        body={"category": "animal", "description": "Bitten.", "near_miss": False},
    ),
    "incident_procedure.acknowledge": Api(
        "POST", "/api/v1/incidents/{incident}/acknowledge", "403 403 ok 404 403 403 ok", body={}
    ),
    "incident_procedure.triage": Api(
        "POST",
        "/api/v1/incidents/{incident}/triage",
        "403 403 ok 404 403 403 ok",
        body={"harm": "psychological", "consequence": 3, "likelihood": 4, "investigation_level": "local"},
    ),
    "incident_procedure.transition": Api(
        "POST", "/api/v1/incidents/{incident}/transition", STAFF_RECORD, body={"to": "under_investigation"}
    ),
    "incident_procedure.request_information": Api(
        "POST",
        "/api/v1/incidents/{incident}/request-information",
        STAFF_RECORD,
        body={"question": "Was anyone else in the room?"},
    ),
    "incident_procedure.provide_information": Api(
        "POST",
        "/api/v1/incidents/{incident}/provide-information",
        "ok 404 403 404 404 403 403",
        body={"answer": "No."},
    ),
    "incident_procedure.feedback": Api(
        "POST",
        "/api/v1/incidents/{incident}/feedback",
        STAFF_RECORD,
        body={"message": "Joint visits agreed."},
    ),
    "incident_procedure.reopen": Api(
        "POST", "/api/v1/incidents/{incident}/reopen", STAFF_RECORD, body={"reason": "A new threat."}
    ),
    "incident_procedure.screen_riddor": Api(
        "PUT", "/api/v1/incidents/{incident}/riddor", STAFF_RECORD, body={"physical": False}
    ),
    "incident_procedure.submit_riddor": Api(
        "POST",
        "/api/v1/incidents/{incident}/riddor/submission",
        STAFF_RECORD,
        body={"hse_reference": "RIDDOR-1"},
    ),
    "incident_procedure.update_support": Api(
        "PATCH",
        "/api/v1/incidents/{incident}/support",
        "403 404 ok 404 404 ok ok",
        body={"welfare_check_done": True},
    ),
    "incident_procedure.add_action": Api(
        "POST",
        "/api/v1/incidents/{incident}/actions",
        STAFF_RECORD,
        body={"title": "Review", "owner_id": "{manager}", "due_at": SOON},
    ),
    "incident_procedure.update_action": Api(
        "PATCH",
        "/api/v1/incidents/{incident}/actions/{action}",
        "403 404 ok 404 404 ok ok",
        body={"status": "done"},
    ),
    "incident_procedure.propose_marker": Api(
        "POST",
        "/api/v1/incidents/{incident}/markers",
        STAFF_RECORD,
        body={"reason": "Dog bit staff.", "controls": ["joint_visit"]},
    ),
    # --- API: markers and households
    "markers.list_markers": Api("GET", "/api/v1/markers", NOT_PRACTITIONERS),
    "markers.get_marker": Api("GET", "/api/v1/markers/{marker}", STAFF_RECORD),
    "markers.approve": Api(
        "POST", "/api/v1/markers/{marker}/approve", "403 403 403 404 403 ok ok", body={"note": "Agreed."}
    ),
    "markers.reject": Api(
        "POST", "/api/v1/markers/{marker}/reject", "403 403 403 404 403 ok ok", body={"note": "No."}
    ),
    "markers.withdraw": Api(
        "POST", "/api/v1/markers/{marker}/withdraw", STAFF_RECORD, body={"reason": "Moved away."}
    ),
    "markers.renew": Api(
        "POST", "/api/v1/markers/{marker}/renew", STAFF_RECORD, body={"incident_id": "{incident}"}
    ),
    "markers.get_household": Api("GET", "/api/v1/households/{household}", NOT_PRACTITIONERS),
    # --- webhooks (signed by Twilio, never by a token) and operations
    "twilio.inbound_sms": Api("POST", "/twilio/sms", "403 403 403 403 403 403 403", anon="403"),
    "twilio.delivery_status": Api("POST", "/twilio/status", "403 403 403 403 403 403 403", anon="403"),
    # Escalation calls (issue 13): Twilio's signature or nothing, whoever calls (NOBODY = 403 x7).
    "twilio_voice.call_answered": Api("POST", "/twilio/voice/1", NOBODY, anon="403"),
    "twilio_voice.call_keypress": Api("POST", "/twilio/voice/1/gather", NOBODY, anon="403"),
    "twilio_voice.call_status": Api("POST", "/twilio/voice/1/status", NOBODY, anon="403"),
    "ops.healthz": Api("GET", "/healthz", EVERYONE, anon="ok"),
    # No sweep has run in the test database: not ready, whoever asks.
    "ops.readyz": Api("GET", "/readyz", "503 503 503 503 503 503 503", anon="503"),
    "ops.metrics": Api("GET", "/metrics", EVERYONE, anon="ok"),
    "ops.swagger_ui_static": Api("GET", "/docs/static/swagger-ui.css", EVERYONE, anon="ok"),
    "api-docs.openapi_json": Api("GET", "/openapi.json", EVERYONE, anon="ok"),
    "api-docs.openapi_swagger_ui": Api("GET", "/docs", EVERYONE, anon="ok"),
    # --- pages
    "web.static": Page("GET", "/static/css/safetycheck.css", EVERYONE, anon="ok"),
    "web.auth.index": Page("GET", "/", EVERYONE),
    "web.auth.login": Page("GET", "/login", EVERYONE, anon="ok"),
    "web.auth.logout": Page("POST", "/logout", "login login login login login login login"),
    # --- pages: the board
    "web.board.board": Page("GET", "/board", NOT_PRACTITIONERS),
    "web.board.live": Page("GET", "/board/live", NOT_PRACTITIONERS),
    "web.board.alarm": Page("GET", "/board/alarms/{alarm}", STAFF_RECORD),
    "web.board.acknowledge": Page("POST", "/board/alarms/{alarm}/acknowledge", TEAM_MANAGERS),
    "web.board.resolve": Page("GET", "/board/alarms/{alarm}/resolve", TEAM_MANAGERS),
    # --- pages: the register, an incident, markers
    "web.register.index": Page("GET", "/register", NOT_PRACTITIONERS),
    "web.register.export_csv": Page("GET", "/register/export.csv", NOT_PRACTITIONERS),
    "web.register.summary_page": Page("GET", "/register/summary", NOT_PRACTITIONERS),
    "web.incident.incident": Page("GET", "/register/incidents/{incident}", STAFF_RECORD),
    "web.incident.acknowledge": Page("POST", "/register/incidents/{incident}/acknowledge", TEAM_MANAGERS),
    "web.incident.triage": Page("POST", "/register/incidents/{incident}/triage", STAFF_RECORD),
    "web.incident.transition": Page("POST", "/register/incidents/{incident}/transition", STAFF_RECORD),
    "web.incident.request_information": Page(
        "POST", "/register/incidents/{incident}/request-information", STAFF_RECORD
    ),
    "web.incident.feedback": Page("POST", "/register/incidents/{incident}/feedback", STAFF_RECORD),
    "web.incident.reopen": Page("POST", "/register/incidents/{incident}/reopen", STAFF_RECORD),
    "web.incident.add_action": Page("POST", "/register/incidents/{incident}/actions", STAFF_RECORD),
    "web.incident.complete_action": Page(
        "POST", "/register/incidents/{incident}/actions/{action}/done", STAFF_RECORD
    ),
    "web.incident.propose_marker": Page("POST", "/register/incidents/{incident}/markers", STAFF_RECORD),
    "web.incident.submit_riddor": Page(
        "POST", "/register/incidents/{incident}/riddor/submission", STAFF_RECORD
    ),
    "web.incident.record_support": Page("POST", "/register/incidents/{incident}/support", STAFF_RECORD),
    "web.markers.markers": Page("GET", "/markers", NOT_PRACTITIONERS),
    # M proposed the marker: a second person decides it.
    "web.markers.approve": Page("POST", "/markers/{marker}/approve", "403 403 403 404 403 ok ok"),
    "web.markers.reject": Page("POST", "/markers/{marker}/reject", STAFF_RECORD),
    # --- pages: the practitioner's phone
    "web.app.home": Page("GET", "/app", PRACTITIONERS),
    # The page's JSON answers 401 (not a redirect) when the session is gone.
    "web.app.status": Page("GET", "/app/status", PRACTITIONERS, anon="401"),
    "web.app.report": Page("GET", "/app/report", PRACTITIONERS),
    "web.app.check_in": Page("POST", "/app/check-in", PRACTITIONERS),
    "web.app.extend": Page("POST", "/app/extend", PRACTITIONERS),
    "web.app.check_out": Page("POST", "/app/check-out", PRACTITIONERS),
    "web.app.raise_panic": Page("POST", "/app/panic", PRACTITIONERS),
    "web.app.near_miss": Page("POST", "/app/near-miss", PRACTITIONERS),
    "web.app.deliver": Page("POST", "/app/queue/extend", PRACTITIONERS, anon="401"),
    "web.app.manifest": Page("GET", "/app/manifest.webmanifest", EVERYONE, anon="ok"),
    "web.app.service_worker": Page("GET", "/app/sw.js", EVERYONE, anon="ok"),
    "web.admin.index": Page("GET", "/admin", ADMIN),
    "web.admin.users": Page("GET", "/admin/users", ADMIN),
    "web.admin.new_user": Page("GET", "/admin/users/new", ADMIN),
    "web.admin.user": Page("GET", "/admin/users/{user}", ADMIN),
    "web.admin.set_on_call": Page("POST", "/admin/users/{user}/on-call", ADMIN),
    "web.admin.revoke_tokens": Page("POST", "/admin/users/{user}/sign-out", ADMIN),
    "web.admin.unlock": Page("POST", "/admin/users/{user}/unlock", ADMIN),
    "web.admin.deactivate": Page("POST", "/admin/users/{user}/deactivate", ADMIN),
    "web.admin.reactivate": Page("POST", "/admin/users/{user}/reactivate", ADMIN),
    "web.admin.teams": Page("GET", "/admin/teams", ADMIN),
    "web.admin.numbers": Page("GET", "/admin/numbers", ADMIN),
    "web.admin.correct_number": Page("POST", "/admin/numbers/{user}", ADMIN, body={"phone": "+447700900555"}),
    "web.admin.clear_number": Page("POST", "/admin/numbers/{user}/clear", ADMIN),
    "web.admin.policy": Page("GET", "/admin/policy", ADMIN),
    # --- the on-call rota: `{rotation}` and `{override}` are team A's, `{layer}` is everyone's
    "rota.list_layers": Api("GET", "/api/v1/rota/layers", NOT_PRACTITIONERS),
    "rota.create_layer": Api("POST", "/api/v1/rota/layers", ADMIN, body={}),
    "rota.get_layer": Api("GET", "/api/v1/rota/layers/{layer}", NOT_PRACTITIONERS),
    "rota.update_layer": Api("PATCH", "/api/v1/rota/layers/{layer}", ADMIN, body={"priority": 5}),
    "rota.delete_layer": Api("DELETE", "/api/v1/rota/layers/{layer}", ADMIN),
    "rota.list_rotations": Api("GET", "/api/v1/rota/rotations", NOT_PRACTITIONERS),
    "rota.create_rotation": Api("POST", "/api/v1/rota/rotations", ADMIN, body={}),
    "rota.get_rotation": Api("GET", "/api/v1/rota/rotations/{rotation}", STAFF_RECORD),
    "rota.update_rotation": Api(
        "PATCH", "/api/v1/rota/rotations/{rotation}", ADMIN, body={"name": "Renamed"}
    ),
    "rota.delete_rotation": Api("DELETE", "/api/v1/rota/rotations/{rotation}", ADMIN),
    "rota.put_members": Api("PUT", "/api/v1/rota/rotations/{rotation}/members", ADMIN, body={"user_ids": []}),
    "rota.list_overrides": Api("GET", "/api/v1/rota/overrides", NOT_PRACTITIONERS),
    "rota.create_override": Api("POST", "/api/v1/rota/overrides", ADMIN, body={}),
    "rota.get_override": Api("GET", "/api/v1/rota/overrides/{override}", STAFF_RECORD),
    "rota.delete_override": Api("DELETE", "/api/v1/rota/overrides/{override}", ADMIN),
    "rota.get_on_call": Api("GET", "/api/v1/rota/on-call", NOT_PRACTITIONERS),
    "rota.get_gaps": Api("GET", "/api/v1/rota/gaps", NOT_PRACTITIONERS),
    "web.admin.rota_index": Page("GET", "/admin/rota", ADMIN),
    "web.admin.rota_new_rotation": Page("GET", "/admin/rota/rotations/new", ADMIN),
    "web.admin.rota_rotation": Page("GET", "/admin/rota/rotations/{rotation}", ADMIN),
    "web.admin.rota_member_up": Page("POST", "/admin/rota/rotations/{rotation}/members/{manager}/up", ADMIN),
    "web.admin.rota_member_down": Page(
        "POST", "/admin/rota/rotations/{rotation}/members/{manager}/down", ADMIN
    ),
    "web.admin.rota_member_remove": Page(
        "POST", "/admin/rota/rotations/{rotation}/members/{manager}/remove", ADMIN
    ),
    "web.admin.rota_delete_rotation": Page("POST", "/admin/rota/rotations/{rotation}/delete", ADMIN),
    "web.admin.rota_new_override": Page("GET", "/admin/rota/overrides/new", ADMIN),
    "web.admin.rota_delete_override": Page("POST", "/admin/rota/overrides/{override}/delete", ADMIN),
    "web.admin.rota_new_layer": Page("GET", "/admin/rota/layers/new", ADMIN),
}


# --- the world every entry is tried in --------------------------------------------------------


@dataclass
class World:
    org: factories.Org
    target: Any
    ids: dict[str, int]

    def caller(self, name: str) -> Any:
        o = self.org
        return {
            "P": o.practitioner,
            "C": o.colleague,
            "M": o.manager,
            "OM": o.other_manager,
            "OP": o.other_practitioner,
            "L": o.lead,
            "A": o.admin,
        }[name]


def _fill(value: Any, ids: dict[str, int]) -> Any:
    if isinstance(value, str) and value.startswith("{") and value.endswith("}") and value[1:-1] in ids:
        return ids[value[1:-1]]
    if isinstance(value, str):
        return value.format(**ids)
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    return value


@pytest.fixture
def world(app: Flask, org: factories.Org, clock: Any, as_user: Any) -> World:
    app.config["RATELIMIT_ENABLED"] = False
    with app.app_context():
        target = factories.make_user(now=clock.now(), team=db.session.merge(org.team), name="Tess Target")
        factories.loaded(target)
    worker, boss = as_user(org.practitioner), as_user(org.manager)
    visit = worker.post("/api/v1/visits", json={"address": "1 Test Street, Leeds", "duration_minutes": 60})
    alarm = worker.post("/api/v1/alarms", json={"kind": "panic"})
    incident = worker.post(
        "/api/v1/incidents",
        json={
            "occurred_at": NOW,
            "category": "animal",
            "description": "Bitten by the dog.",
            "near_miss": False,
            "address": "1 Test Street, Leeds",
        },
    )
    assert visit.status_code == alarm.status_code == incident.status_code == 201, incident.get_json()
    incident_id = incident.get_json()["id"]
    url = f"/api/v1/incidents/{incident_id}"
    assert boss.post(f"{url}/acknowledge", json={}).status_code == 200
    marker = boss.post(f"{url}/markers", json={"reason": "Dog bit staff.", "controls": ["joint_visit"]})
    action = boss.post(f"{url}/actions", json={"title": "Review", "owner_id": org.manager.id, "due_at": SOON})
    assert marker.status_code == action.status_code == 201, (marker.get_json(), action.get_json())
    ids = {
        "visit": visit.get_json()["id"],
        "alarm": alarm.get_json()["id"],
        "incident": incident_id,
        "marker": marker.get_json()["id"],
        "household": boss.get(url).get_json()["household_id"],
        # adding an action answers with the incident; the action is its last
        "action": action.get_json()["actions"][-1]["id"],
        "user": target.id,
        "manager": org.manager.id,
        **_rota_records(app, org, clock),
    }
    yield World(org, target, ids)
    app.config["RATELIMIT_ENABLED"] = True


def _rota_records(app: Flask, org: factories.Org, clock: Any) -> dict[str, int]:
    """Team A's rotation (with its manager) and override, and a layer, for the rota's entries."""
    with app.app_context():
        moment = clock.now()
        layer = rota_service.create_layer(name="Nights", priority=10, windows=None, now=moment)
        rotation = rota_service.create_rotation(
            name="Team A duty",
            team_id=org.team.id,
            layer_id=None,
            handover_time=time(9),
            shift_length=1,
            shift_unit=ShiftUnit.DAYS,
            starts_on=date(2026, 3, 2),
            member_ids=[org.manager.id],
            now=moment,
        )
        override = rota_service.create_override(
            user_id=org.manager.id,
            team_id=org.team.id,
            starts_at=moment,
            ends_at=moment + timedelta(hours=8),
            note=None,
            created_by_id=None,
            now=moment,
        )
        db.session.commit()
        return {"layer": layer.id, "rotation": rotation.id, "override": override.id}


def _category(response: Any, page: bool) -> str:
    status = response.status_code
    if status >= 500 and status != 503:
        return f"{status}!"
    if page and status in (301, 302, 303) and "/login" in response.location:
        return LOGIN
    if status in (400, 401, 403, 404, 405, 503):
        return str(status)
    return "ok"


def _api_call(app: Flask, entry: Api, ids: dict[str, int], token: str | None) -> Any:
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = _fill(entry.body, ids)
    response = client.open(_fill(entry.url, ids), method=entry.method, json=body, headers=headers)
    response.get_data()  # a streamed answer (the CSV export) runs to its end
    response.close()
    return response


def _page_call(client: WebClient, entry: Api, ids: dict[str, int]) -> Any:
    url = _fill(entry.url, ids)
    if entry.method == "GET":
        return client.get(url)
    return client.post(url, _fill(entry.body, ids) or {})


def _token(app: Flask, user: Any, clock: Any, *, expired: bool = False, revoked: bool = False) -> str:
    with app.app_context():
        user = db.session.merge(user)
        when = clock.now() - timedelta(days=2) if expired else clock.now()
        issued = account_service.issue_token(user, device="matrix", now=when, ttl=timedelta(days=1))
        db.session.flush()
        if revoked:
            account_service.revoke_token(issued.record.id, now=clock.now())
        db.session.commit()
        return issued.token


def _web_client(app: Flask, user: Any, *, ended: bool = False, expired: bool = False) -> WebClient:
    client = WebClient(app)
    client.sign_in(user)
    if ended or expired:
        with app.app_context():
            record = db.session.scalars(
                sa.select(WebSession).where(WebSession.user_id == user.id).order_by(WebSession.id.desc())
            ).first()
            assert record is not None
            if ended:
                record.ended_at = record.created_at
            else:
                record.expires_at = record.created_at
            db.session.commit()
    return client


def answers(app: Flask, world: World, clock: Any, entry: Api) -> tuple[str, str]:
    """(the callers' answers in CALLERS order, the three anonymous answers) for one entry."""
    got = []
    for name in CALLERS:
        user = world.caller(name)
        if entry.page:
            response = _page_call(_web_client(app, user), entry, world.ids)
        else:
            response = _api_call(app, entry, world.ids, _token(app, user, clock))
        got.append(_category(response, entry.page))
    anon = []
    if entry.page:
        clients = [
            WebClient(app),
            _web_client(app, world.org.colleague, expired=True),
            _web_client(app, world.org.colleague, ended=True),
        ]
        anon = [_category(_page_call(c, entry, world.ids), True) for c in clients]
    else:
        tokens = [
            None,
            _token(app, world.org.colleague, clock, expired=True),
            _token(app, world.org.colleague, clock, revoked=True),
        ]
        anon = [_category(_api_call(app, entry, world.ids, t), False) for t in tokens]
    return " ".join(got), " ".join(anon)


@pytest.mark.parametrize("endpoint", sorted(MATRIX))
def test_every_caller_gets_the_expected_answer(app, world, clock, endpoint) -> None:
    entry = MATRIX[endpoint]
    got, anon = answers(app, world, clock, entry)
    if DISCOVER:
        print(f"\n{endpoint:45} {got:32} anon: {anon}")
        return
    assert got == entry.expect, f"{endpoint}: callers {' '.join(CALLERS)}"
    assert anon == " ".join([entry.anon] * 3), f"{endpoint}: no token, expired, revoked"


def test_every_route_has_an_entry(app) -> None:
    routes = {rule.endpoint for rule in app.url_map.iter_rules()}
    missing = sorted(routes - set(MATRIX))
    assert not missing, f"routes without an entry in tests/test_access_matrix.py MATRIX: {missing}"
    stale = sorted(set(MATRIX) - routes)
    assert not stale, f"entries for routes that no longer exist: {stale}"
