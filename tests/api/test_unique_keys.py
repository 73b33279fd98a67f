"""Emails, phones and team names are unique: 409 naming the field, never a 500.

Inbound texts are matched to people by number alone, so a shared phone would let one person's
`OK` check out another. The service checks first; the database backs it up, and a key another
request takes between the check and the insert still answers the check's 409.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa

from safetycheck.accounts.enums import Role
from safetycheck.accounts.models import Team, User
from safetycheck.visits.models import Visit
from tests.api.test_admin import new_user
from tests.assertions import assert_error, count, session
from tests.conftest import START
from tests.escalation.test_sms_commands import inbound, reply_text


def national(e164: str) -> str:
    """+447700900412 as a person types it: 07700 900412."""
    return f"0{e164[3:7]} {e164[7:]}"


def test_a_phone_another_user_has_is_409_naming_phone(as_user, org, app) -> None:
    before = count(app, User)
    for typed in (org.colleague.phone, national(org.colleague.phone)):
        response = as_user(org.admin).post("/api/v1/users", json=new_user(org.team.id, phone=typed))
        body = assert_error(response, 409, "phone")
        assert "email" not in body["errors"]
    assert count(app, User) == before


def test_changing_a_phone_to_another_users_is_409_and_changes_nothing(as_user, org, app) -> None:
    response = as_user(org.admin).patch(
        f"/api/v1/users/{org.colleague.id}", json={"on_call": True, "phone": national(org.practitioner.phone)}
    )

    assert_error(response, 409, "phone")
    with session(app) as s:
        colleague = s.get(User, org.colleague.id)
        assert (colleague.phone, colleague.on_call) == (org.colleague.phone, False)


def test_a_user_may_keep_their_own_phone(as_user, org) -> None:
    response = as_user(org.admin).patch(
        f"/api/v1/users/{org.colleague.id}", json={"phone": national(org.colleague.phone)}
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["phone"] == org.colleague.phone


def test_a_phone_kept_by_a_deactivated_user_is_409_too(as_user, org, app) -> None:
    with session(app) as s:
        s.get(User, org.colleague.id).active = False
        s.commit()
    response = as_user(org.admin).post("/api/v1/users", json=new_user(org.team.id, phone=org.colleague.phone))
    assert_error(response, 409, "phone")


def test_an_ok_text_checks_out_only_the_sender(as_user, org, app, client) -> None:
    """The defect: with Sam given Priya's number, Sam's OK checked out Priya and left his visit open."""
    priya, sam = as_user(org.practitioner), as_user(org.colleague)
    hers = priya.post("/api/v1/visits", json={"address": "1 High St", "duration_minutes": 30}).get_json()
    his = sam.post("/api/v1/visits", json={"address": "2 Low Rd", "duration_minutes": 30}).get_json()

    refused = as_user(org.admin).patch(
        f"/api/v1/users/{org.colleague.id}", json={"phone": org.practitioner.phone}
    )
    assert_error(refused, 409, "phone")
    reply = reply_text(inbound(client, app, from_phone=org.colleague.phone, body="OK"))

    assert "checked out of 2 Low Rd" in reply
    with session(app) as s:
        assert s.get(Visit, his["id"]).status == "completed"
        assert s.get(Visit, hers["id"]).status == "active"


# --- a key taken between the check and the insert ----------------------------------------------


def user_row(**values: Any) -> dict[str, Any]:
    row = {
        "name": "Competitor",
        "email": "competitor@example.test",
        "phone": "+447700900650",
        "role": Role.HS_LEAD,
        "password_hash": "x",
        "created_at": START,
    }
    return {**row, **values}


@contextmanager
def competing_row(model: type, event: str, values: dict[str, Any]) -> Iterator[list[bool]]:
    """Just before our write reaches the database, another writer's row with the same key
    appears: what two requests at the same moment do when both pass the check. It goes in on the
    same connection: SQLite serialises writers, so no second connection could get in there."""
    fired: list[bool] = []

    def write_first(_mapper: Any, connection: sa.Connection, _target: Any) -> None:
        if not fired:
            fired.append(True)
            connection.execute(sa.insert(model.__table__).values(**values))  # type: ignore[attr-defined]

    sa.event.listen(model, event, write_first)
    try:
        yield fired
    finally:
        sa.event.remove(model, event, write_first)


@pytest.mark.parametrize(
    ("competitor", "field"),
    [(user_row(email="nia@example.test"), "email"), (user_row(phone="+447700900321"), "phone")],
    ids=["email", "phone"],
)
def test_a_user_key_taken_after_the_check_is_409_naming_it(as_user, org, app, competitor, field) -> None:
    before = count(app, User)
    with competing_row(User, "before_insert", competitor) as fired:
        response = as_user(org.admin).post("/api/v1/users", json=new_user(org.team.id))

    assert fired
    body = assert_error(response, 409, field)
    assert list(body["errors"]) == [field]
    assert count(app, User) == before


def test_a_phone_taken_after_the_check_on_a_change_is_409(as_user, org, app) -> None:
    with competing_row(User, "before_update", user_row(phone="+447700900321")) as fired:
        response = as_user(org.admin).patch(
            f"/api/v1/users/{org.colleague.id}", json={"phone": "07700 900321"}
        )

    assert fired
    assert_error(response, 409, "phone")
    with session(app) as s:
        assert s.get(User, org.colleague.id).phone == org.colleague.phone


def test_a_team_name_taken_after_the_check_in_another_case_is_409(as_user, org, app) -> None:
    before = count(app, Team)
    with competing_row(Team, "before_insert", {"name": "EASTSIDE", "created_at": START}) as fired:
        response = as_user(org.admin).post("/api/v1/teams", json={"name": "Eastside"})

    assert fired
    assert_error(response, 409, "name")
    assert count(app, Team) == before


def test_a_team_name_with_non_ascii_letters_is_409_when_taken(as_user, org) -> None:
    """Found by schemathesis: a 500. SQLite's lower() folds only ASCII, Python's lower() folds
    these too, so a check comparing the two let an exact duplicate through to the database."""
    admin = as_user(org.admin)
    assert admin.post("/api/v1/teams", json={"name": "Équipe Çà"}).status_code == 201
    assert_error(admin.post("/api/v1/teams", json={"name": "Équipe Çà"}), 409, "name")
