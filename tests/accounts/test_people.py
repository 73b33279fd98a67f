"""An admin's changes to people keep every team reachable and reuse the creation rules."""

from __future__ import annotations

import pytest

from safetycheck.accounts import people
from safetycheck.accounts import service as account_service
from safetycheck.accounts.enums import Role
from safetycheck.errors import Conflict, ValidationFailed


def _edit(user, acting, **changes):
    values = {"name": user.name, "phone": user.phone, "role": user.role, "team_id": user.team_id, **changes}
    return people.update_user(user.id, acting_user_id=acting.id, **values)


def test_an_edit_goes_through_the_creation_rules(ctx, org) -> None:
    with pytest.raises(ValidationFailed) as bad_phone:
        _edit(org.practitioner, org.admin, phone="12")
    assert "phone" in bad_phone.value.errors
    with pytest.raises(ValidationFailed) as no_team:
        _edit(org.practitioner, org.admin, team_id=None)
    assert "team_id" in no_team.value.errors
    with pytest.raises(ValidationFailed) as blank:
        _edit(org.practitioner, org.admin, name="   ")
    assert "name" in blank.value.errors


def test_a_changed_number_clears_the_undeliverable_flag_and_an_unchanged_one_does_not(
    ctx, org, clock
) -> None:
    user = account_service.get_user(org.practitioner.id)
    user.phone_undeliverable_at = clock.now()
    _edit(user, org.admin, name="Priya P")
    assert user.phone_undeliverable_at is not None
    _edit(user, org.admin, phone="07700 900321")
    assert user.phone == "+447700900321"
    assert user.phone_undeliverable_at is None


def test_the_only_manager_of_a_team_with_practitioners_stays_one(ctx, org, clock) -> None:
    lonely = account_service.get_user(org.other_manager.id)
    for change in ({"role": Role.PRACTITIONER}, {"team_id": org.team.id}):
        with pytest.raises(Conflict):
            _edit(lonely, org.admin, **change)
    with pytest.raises(Conflict):
        people.deactivate_user(lonely.id, acting_user_id=org.admin.id, now=clock.now())
    # Morgan has a fellow manager (Olu) in the same team: Morgan may go.
    people.deactivate_user(org.manager.id, acting_user_id=org.admin.id, now=clock.now())
    assert not account_service.get_user(org.manager.id).active


def test_an_admin_cannot_lock_themselves_out(ctx, org, clock) -> None:
    admin = account_service.get_user(org.admin.id)
    with pytest.raises(Conflict):
        _edit(admin, admin, role=Role.HS_LEAD)
    with pytest.raises(Conflict):
        people.deactivate_user(admin.id, acting_user_id=admin.id, now=clock.now())
