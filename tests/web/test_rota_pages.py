"""/admin/rota with the Flask test client: add a rotation, order its people, add an override and a
layer, see the coming week; the board shows who is on call now and next."""

from __future__ import annotations

import sqlalchemy as sa

from safetycheck.accounts.rota_models import RotaLayer, RotaOverride, Rotation
from tests.assertions import count, session


def _rotation(app, name: str) -> Rotation:
    with session(app) as s:
        found = s.scalar(sa.select(Rotation).where(Rotation.name == name))
        assert found is not None
        return found


def _order(app, rotation_id: int) -> list[int]:
    with session(app) as s:
        rotation = s.get(Rotation, rotation_id)
        return [m.user_id for m in rotation.members]


def test_only_admins_open_the_rota_pages(web_as, org) -> None:
    for who in ("manager", "lead", "practitioner"):
        browser = web_as(getattr(org, who))
        assert browser.get("/admin/rota").status_code == 403
        assert browser.post("/admin/rota/rotations/new", {"name": "x"}).status_code == 403


def test_an_admin_builds_a_rotation_orders_it_and_sees_the_week(web_as, org, app) -> None:
    admin = web_as(org.admin)
    assert admin.get("/admin/rota").status_code == 200
    admin.get("/admin/rota/rotations/new")
    bad = admin.post(
        "/admin/rota/rotations/new",
        {
            "name": "",
            "team_id": str(org.team.id),
            "layer_id": "",
            "handover_time": "9am",
            "shift_length": "1",
            "shift_unit": "days",
            "starts_on": "2026-03-02",
        },
    )
    assert bad.status_code == 422
    page = bad.get_data(as_text=True)
    assert "Enter a name for the rotation" in page
    assert "Enter a time of day as HH:MM" in page
    assert count(app, Rotation) == 0

    made = admin.post(
        "/admin/rota/rotations/new",
        {
            "name": "Eastside duty",
            "team_id": str(org.team.id),
            "layer_id": "",
            "handover_time": "09:00",
            "shift_length": "1",
            "shift_unit": "days",
            "starts_on": "2026-03-02",
        },
    )
    assert made.status_code == 302
    rotation = _rotation(app, "Eastside duty")
    url = f"/admin/rota/rotations/{rotation.id}"
    page = admin.get(url).get_data(as_text=True)
    assert f'<option value="{org.colleague.id}">Sam Colleague</option>' in page
    for person in (org.manager, org.colleague):
        assert admin.post(url, {"user_id": str(person.id)}).status_code == 302
    assert _order(app, rotation.id) == [org.manager.id, org.colleague.id]
    admin.get(url)
    assert admin.post(f"{url}/members/{org.colleague.id}/up").status_code == 302
    assert _order(app, rotation.id) == [org.colleague.id, org.manager.id]
    twice = admin.post(url, {"user_id": str(org.manager.id)})
    assert twice.status_code == 422
    assert "Each person may appear once" in twice.get_data(as_text=True)

    week = admin.get("/admin/rota").get_data(as_text=True)
    assert "The coming week" in week
    assert "Sam Colleague" in week
    assert "Eastside duty" in week
    assert "Nobody on call" not in week.split('id="rotations"')[0]  # the flag covers every team too


def test_an_admin_adds_an_override_and_a_layer(web_as, org, app) -> None:
    admin = web_as(org.admin)
    admin.get("/admin/rota/overrides/new")
    bad = admin.post(
        "/admin/rota/overrides/new",
        {
            "user_id": str(org.colleague.id),
            "team_id": "",
            "starts_on": "2026-03-06",
            "starts_time": "17:00",
            "ends_on": "2026-03-06",
            "ends_time": "09:00",
            "note": "",
        },
    )
    assert bad.status_code == 422
    assert "Must be after starts_at" in bad.get_data(as_text=True)
    good = admin.post(
        "/admin/rota/overrides/new",
        {
            "user_id": str(org.colleague.id),
            "team_id": str(org.team.id),
            "starts_on": "2026-03-06",
            "starts_time": "17:00",
            "ends_on": "2026-03-07",
            "ends_time": "09:00",
            "note": "Sam covers Friday night",
        },
    )
    assert good.status_code == 302
    assert "Sam covers Friday night" in admin.get("/admin/rota").get_data(as_text=True)
    with session(app) as s:
        [override] = s.scalars(sa.select(RotaOverride)).all()
        override_id = override.id
    assert admin.post(f"/admin/rota/overrides/{override_id}/delete").status_code == 302
    assert count(app, RotaOverride) == 0

    admin.get("/admin/rota/layers/new")
    no_days = admin.post(
        "/admin/rota/layers/new",
        {"name": "Nights", "priority": "10", "window_from": "17:00", "window_until": "09:00"},
    )
    assert no_days.status_code == 422
    assert "Select at least one day" in no_days.get_data(as_text=True)
    added = admin.post(
        "/admin/rota/layers/new",
        {
            "name": "Nights",
            "priority": "10",
            "days": ["mon", "fri"],
            "window_from": "17:00",
            "window_until": "09:00",
        },
    )
    assert added.status_code == 302
    with session(app) as s:
        [layer] = s.scalars(sa.select(RotaLayer)).all()
        assert layer.windows == [{"days": ["mon", "fri"], "from": "17:00", "until": "09:00"}]


def test_the_board_shows_who_is_on_call_now_and_next(web_as, org, app) -> None:
    page = web_as(org.manager).get("/board").get_data(as_text=True)
    assert 'id="on-call"' in page
    assert "Olu OnCall" in page  # the always-on flag, for their team
