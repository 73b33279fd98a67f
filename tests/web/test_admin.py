"""/admin with the Flask test client: who may open it, and each form's errors and effects."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from safetycheck.accounts.models import Team, User
from tests.assertions import count, session
from tests.factories import PASSWORD

ADMIN_PAGES = [
    "/admin",
    "/admin/users",
    "/admin/users/new",
    "/admin/teams",
    "/admin/numbers",
    "/admin/policy",
]


@pytest.mark.parametrize("who", ["manager", "lead", "practitioner"])
def test_other_roles_get_no_admin_page(web_as, org, who) -> None:
    browser = web_as(getattr(org, who))
    for url in [*ADMIN_PAGES, f"/admin/users/{org.admin.id}"]:
        response = browser.get(url)
        assert response.status_code == 403, url
        assert "You cannot open this page" in response.get_data(as_text=True)
    assert browser.post("/admin/teams", {"name": "Sneaky"}).status_code == 403


def test_admin_pages_open_for_an_admin(web_as, org) -> None:
    admin = web_as(org.admin)
    for url in [*ADMIN_PAGES, f"/admin/users/{org.practitioner.id}"]:
        assert admin.get(url).status_code == 200, url
    assert admin.get("/admin/users/424242").status_code == 404


def test_a_form_posted_without_its_csrf_token_changes_nothing(web_as, org, app) -> None:
    admin = web_as(org.admin)
    before = count(app, Team)
    refused = admin.post("/admin/teams", {"name": "Eastside"}, csrf=False)
    assert refused.status_code == 400
    assert "nothing was changed" in refused.get_data(as_text=True)
    forged = admin.post("/admin/teams", {"name": "Eastside", "csrf_token": "forged"}, csrf=False)
    assert forged.status_code == 400
    assert count(app, Team) == before

    assert admin.post("/admin/teams", {"name": "Eastside"}).status_code == 302
    assert count(app, Team) == before + 1


def test_a_bad_phone_is_a_field_error_then_a_good_one_adds_the_person(web_as, org, app) -> None:
    admin = web_as(org.admin)
    admin.get("/admin/users/new")
    before = count(app, User)
    person = {
        "name": "Nia Newcomer",
        "email": "nia@example.test",
        "phone": "12",
        "role": "practitioner",
        "team_id": str(org.team.id),
        "password": "a good first password",
    }
    bad = admin.post("/admin/users/new", person)
    assert bad.status_code == 422
    page = bad.get_data(as_text=True)
    assert "<title>Error: Add a person" in page
    assert 'href="#phone"' in page  # the summary links to the field
    assert re.search(r'id="phone-error"', page)
    assert count(app, User) == before

    good = admin.post("/admin/users/new", {**person, "phone": "07700 900777"})
    assert good.status_code == 302
    with session(app) as s:
        nia = s.scalar(sa.select(User).where(User.email == "nia@example.test"))
        assert nia.phone == "+447700900777"
        assert nia.team_id == org.team.id
    assert "Nia Newcomer was added" in admin.get(good.location).get_data(as_text=True)


def test_the_domain_rules_are_the_forms_rules(web_as, org, app) -> None:
    admin = web_as(org.admin)
    admin.get("/admin/users/new")
    before = count(app, User)
    taken = admin.post(
        "/admin/users/new",
        {
            "name": "Copy",
            "email": org.manager.email,
            "phone": "+447700900778",
            "role": "practitioner",
            "team_id": "",
            "password": "a good first password",
        },
    )
    assert taken.status_code == 422
    page = taken.get_data(as_text=True)
    assert 'href="#team_id"' in page  # a practitioner needs a team (the service says so)
    assert count(app, User) == before


def test_an_admin_edits_a_person(web_as, org, app) -> None:
    admin = web_as(org.admin)
    admin.get(f"/admin/users/{org.colleague.id}")
    response = admin.post(
        f"/admin/users/{org.colleague.id}",
        {
            "name": "Sam Renamed",
            "phone": "+447700900555",
            "role": "manager",
            "team_id": str(org.other_team.id),
        },
    )
    assert response.status_code == 302
    with session(app) as s:
        sam = s.get(User, org.colleague.id)
        assert (sam.name, sam.phone, sam.role, sam.team_id) == (
            "Sam Renamed",
            "+447700900555",
            "manager",
            org.other_team.id,
        )


def test_the_only_manager_of_a_team_cannot_be_deactivated(web_as, org, app) -> None:
    admin = web_as(org.admin)
    admin.get(f"/admin/users/{org.other_manager.id}")
    response = admin.post(f"/admin/users/{org.other_manager.id}/deactivate")
    assert response.status_code == 302
    assert "only manager of their team" in admin.get(response.location).get_data(as_text=True)
    with session(app) as s:
        assert s.get(User, org.other_manager.id).active


def test_deactivating_ends_sessions_and_tokens_and_reactivating_does_not_bring_them_back(
    web_as, as_user, org, client
) -> None:
    sam = web_as(org.colleague)
    phone = as_user(org.colleague)
    admin = web_as(org.admin)
    admin.get(f"/admin/users/{org.colleague.id}")
    assert admin.post(f"/admin/users/{org.colleague.id}/deactivate").status_code == 302
    assert sam.get("/app").location.startswith("/login")
    assert phone.get("/api/v1/me").status_code == 401
    refused = client.post(
        "/api/v1/auth/tokens", json={"email": org.colleague.email, "password": PASSWORD, "device": "x"}
    )
    assert refused.status_code == 422

    admin.get(f"/admin/users/{org.colleague.id}")
    assert admin.post(f"/admin/users/{org.colleague.id}/reactivate").status_code == 302
    assert phone.get("/api/v1/me").status_code == 401
    assert sam.get("/app").location.startswith("/login")


def test_an_admin_cannot_deactivate_themselves(web_as, org, app) -> None:
    admin = web_as(org.admin)
    admin.get(f"/admin/users/{org.admin.id}")
    admin.post(f"/admin/users/{org.admin.id}/deactivate")
    with session(app) as s:
        assert s.get(User, org.admin.id).active


def test_on_call_toggles_and_unlock_lets_a_person_sign_in(web_as, web, org, app) -> None:
    for _ in range(5):
        web.post("/login", {"email": org.lead.email, "password": "wrong"})
    assert web.post("/login", {"email": org.lead.email, "password": PASSWORD}).status_code == 429

    admin = web_as(org.admin)
    page = admin.get(f"/admin/users/{org.lead.id}").get_data(as_text=True)
    assert "Unlock sign-in" in page
    assert admin.post(f"/admin/users/{org.lead.id}/unlock").status_code == 302
    assert admin.post(f"/admin/users/{org.lead.id}/on-call").status_code == 302
    with session(app) as s:
        assert s.get(User, org.lead.id).on_call
    assert web.post("/login", {"email": org.lead.email, "password": PASSWORD}).location == "/register"


def test_an_undeliverable_number_is_corrected_or_tried_again(web_as, org, app, clock) -> None:
    with session(app) as s:
        for user_id in (org.colleague.id, org.manager.id):
            flagged = s.get(User, user_id)
            flagged.phone_undeliverable_at = clock.now()
            flagged.phone_undeliverable_reason = "21610 replied STOP"
        s.commit()
    admin = web_as(org.admin)
    page = admin.get("/admin/numbers").get_data(as_text=True)
    assert "21610 replied STOP" in page
    bad = admin.post(f"/admin/numbers/{org.colleague.id}", {f"u{org.colleague.id}-phone": "nonsense"})
    assert bad.status_code == 422
    assert f'href="#u{org.colleague.id}-phone"' in bad.get_data(as_text=True)
    fixed = admin.post(f"/admin/numbers/{org.colleague.id}", {f"u{org.colleague.id}-phone": "+447700900644"})
    assert fixed.status_code == 302
    admin.get("/admin/numbers")
    assert admin.post(f"/admin/numbers/{org.manager.id}/clear").status_code == 302
    with session(app) as s:
        assert s.get(User, org.colleague.id).phone == "+447700900644"
        assert s.scalar(sa.select(sa.func.count()).where(User.phone_undeliverable_at.is_not(None))) == 0


def test_the_policy_page_shows_each_ladder_in_words(web_as, org) -> None:
    page = web_as(org.admin).get("/admin/policy").get_data(as_text=True)
    assert "Overdue visit" in page
    assert "After 10 min" in page
    assert "Team managers and on-call contacts" in page
    assert "Every 10 min until someone takes charge" in page
    assert "reminder 5 min before the due time" in page


def test_policy_steps_read_as_one_line() -> None:
    from safetycheck.escalation.policy import load_policy
    from safetycheck.web.admin.policy import describe

    overdue = describe(load_policy())[0]
    assert [s.sentence for s in overdue.steps] == [
        "at the due time: the practitioner",
        "after 10 min: team managers",
        "after 20 min: team managers and on-call contacts, repeats every 10 min",
    ]
