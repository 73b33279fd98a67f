"""Who is on call when: turns across hand-overs (to the second, across clock changes), layers,
overrides beating rotations, the old flag as an override that is always on, cross-team cover,
what comes next, and the gaps."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from safetycheck.accounts import rota
from safetycheck.accounts import rota_service as service
from safetycheck.accounts import service as account_service
from safetycheck.accounts.enums import Role
from safetycheck.accounts.models import Team, User
from safetycheck.accounts.rota_models import Rotation, ShiftUnit
from safetycheck.errors import ValidationFailed
from safetycheck.extensions import db
from tests import factories

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # Monday; London is on GMT until 29 March
SECOND = timedelta(seconds=1)
# Every night from 17:00 to 09:00, and the weekend days between.
OUT_OF_HOURS = [
    {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "from": "17:00", "until": "09:00"},
    {"days": ["sat", "sun"], "from": "09:00", "until": "17:00"},
]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def names(people: list[User]) -> list[str]:
    return [p.name for p in people]


def person(name: str, team: Team | None = None, role: Role = Role.MANAGER, **kw: object) -> User:
    return factories.make_user(now=NOW, role=role, team=team, name=name, **kw)  # type: ignore[arg-type]


def rotation(
    members: list[User],
    *,
    team: Team | None,
    starts_on: date = date(2026, 3, 2),
    handover: time = time(9, 0),
    length: int = 1,
    unit: ShiftUnit = ShiftUnit.DAYS,
    layer_id: int | None = None,
) -> Rotation:
    made = service.create_rotation(
        name=f"Rota {len(members)}-{handover}",
        team_id=team.id if team else None,
        layer_id=layer_id,
        handover_time=handover,
        shift_length=length,
        shift_unit=unit,
        starts_on=starts_on,
        member_ids=[m.id for m in members],
        now=NOW,
    )
    db.session.flush()
    return made


@pytest.fixture
def team(ctx) -> Team:
    return factories.make_team(now=NOW, name="Eastside")


@pytest.fixture
def other(ctx) -> Team:
    return factories.make_team(now=NOW, name="Westside")


def test_turns_change_at_the_hand_over_to_the_second(team) -> None:
    ann, bob = person("Ann", team), person("Bob", team)
    rotation([ann, bob], team=team)

    assert rota.on_call_at(utc(2026, 3, 2, 9) - SECOND, team_id=team.id) == []  # not started yet
    assert names(rota.on_call_at(utc(2026, 3, 2, 9), team_id=team.id)) == ["Ann"]
    assert names(rota.on_call_at(utc(2026, 3, 3, 9) - SECOND, team_id=team.id)) == ["Ann"]
    assert names(rota.on_call_at(utc(2026, 3, 3, 9), team_id=team.id)) == ["Bob"]
    assert names(rota.on_call_at(utc(2026, 3, 4, 9), team_id=team.id)) == ["Ann"]
    assert names(rota.on_call_at(utc(2026, 5, 2, 12), team_id=team.id)) == ["Bob"]  # turn 61


def test_a_daily_hand_over_keeps_its_local_time_across_the_clock_changes(team) -> None:
    ann, bob = person("Ann", team), person("Bob", team)
    rotation([ann, bob], team=team, starts_on=date(2026, 3, 28))  # Sat 28 Mar, Ann; Sun 29 Mar, Bob

    # Clocks go forward at 01:00 UTC on Sunday 29 March: 09:00 BST is 08:00 UTC.
    assert names(rota.on_call_at(utc(2026, 3, 29, 8) - SECOND, team_id=team.id)) == ["Ann"]
    assert names(rota.on_call_at(utc(2026, 3, 29, 8), team_id=team.id)) == ["Bob"]
    # Back on 25 October: 09:00 GMT is 09:00 UTC again (turn 211 from 28 March: Bob's).
    assert names(rota.on_call_at(utc(2026, 10, 25, 9) - SECOND, team_id=team.id)) == ["Ann"]
    assert names(rota.on_call_at(utc(2026, 10, 25, 9), team_id=team.id)) == ["Bob"]


def test_a_shift_counted_in_hours_is_exact_elapsed_time_across_the_clock_change(team) -> None:
    ann, bob = person("Ann", team), person("Bob", team)
    rotation([ann, bob], team=team, starts_on=date(2026, 3, 28), length=24, unit=ShiftUnit.HOURS)

    # 24 hours after 09:00 GMT on Saturday is 10:00 BST on Sunday (09:00 UTC).
    assert names(rota.on_call_at(utc(2026, 3, 29, 9) - SECOND, team_id=team.id)) == ["Ann"]
    assert names(rota.on_call_at(utc(2026, 3, 29, 9), team_id=team.id)) == ["Bob"]


def test_a_weekly_rotation_hands_over_on_its_weekday(team) -> None:
    ann, bob = person("Ann", team), person("Bob", team)
    rotation([ann, bob], team=team, unit=ShiftUnit.WEEKS)

    assert names(rota.on_call_at(utc(2026, 3, 9, 9) - SECOND, team_id=team.id)) == ["Ann"]
    assert names(rota.on_call_at(utc(2026, 3, 9, 9), team_id=team.id)) == ["Bob"]


def test_the_out_of_hours_layer_wins_inside_its_window(team) -> None:
    day, night = person("Day", team), person("Night", team)
    layer = service.create_layer(name="Out of hours", priority=10, windows=OUT_OF_HOURS, now=NOW)
    rotation([day], team=team)
    rotation([night], team=team, handover=time(17, 0), layer_id=layer.id, starts_on=date(2026, 3, 1))

    assert names(rota.on_call_at(utc(2026, 3, 2, 12), team_id=team.id)) == ["Day"]
    assert names(rota.on_call_at(utc(2026, 3, 2, 17) - SECOND, team_id=team.id)) == ["Day"]
    assert names(rota.on_call_at(utc(2026, 3, 2, 17), team_id=team.id)) == ["Night"]
    assert names(rota.on_call_at(utc(2026, 3, 3, 9) - SECOND, team_id=team.id)) == ["Night"]
    assert names(rota.on_call_at(utc(2026, 3, 3, 9), team_id=team.id)) == ["Day"]
    assert names(rota.on_call_at(utc(2026, 3, 7, 12), team_id=team.id)) == ["Night"]  # Saturday
    assert names(rota.on_call_at(utc(2026, 3, 9, 9) - SECOND, team_id=team.id)) == ["Night"]  # Monday 08:59


def test_a_higher_layer_with_nobody_left_falls_through_to_the_one_below(team) -> None:
    day, night = person("Day", team), person("Night", team)
    layer = service.create_layer(name="Nights", priority=5, windows=OUT_OF_HOURS, now=NOW)
    rotation([day], team=team)
    rotation([night], team=team, layer_id=layer.id)
    night.active = False
    db.session.flush()

    assert names(rota.on_call_at(utc(2026, 3, 2, 20), team_id=team.id)) == ["Day"]


def test_an_override_beats_the_rotations_for_its_period_only(team) -> None:
    ann, sam = person("Ann", team), person("Sam", team)
    rotation([ann], team=team)
    service.create_override(
        user_id=sam.id,
        team_id=team.id,
        starts_at=utc(2026, 3, 6, 17),
        ends_at=utc(2026, 3, 7, 9),
        note="Sam covers Friday night",
        created_by_id=None,
        now=NOW,
    )

    assert names(rota.on_call_at(utc(2026, 3, 6, 17) - SECOND, team_id=team.id)) == ["Ann"]
    assert names(rota.on_call_at(utc(2026, 3, 6, 17), team_id=team.id)) == ["Sam"]
    assert names(rota.on_call_at(utc(2026, 3, 7, 9) - SECOND, team_id=team.id)) == ["Sam"]
    assert names(rota.on_call_at(utc(2026, 3, 7, 9), team_id=team.id)) == ["Ann"]


def test_an_override_for_another_team_changes_nothing_here(team, other) -> None:
    ann, sam = person("Ann", team), person("Sam", other)
    rotation([ann], team=team)
    service.create_override(
        user_id=sam.id,
        team_id=other.id,
        starts_at=NOW,
        ends_at=NOW + timedelta(hours=4),
        note=None,
        created_by_id=None,
        now=NOW,
    )
    assert names(rota.on_call_at(NOW + timedelta(hours=1), team_id=team.id)) == ["Ann"]
    assert names(rota.on_call_at(NOW + timedelta(hours=1), team_id=other.id)) == ["Sam"]


def test_the_old_flag_is_an_override_that_is_always_on_for_every_team(team, other) -> None:
    duty = person("Duty", None, role=Role.HS_LEAD, on_call=True)
    person("Gone", None, role=Role.HS_LEAD, on_call=True).active = False
    db.session.flush()
    assert names(rota.on_call_at(NOW, team_id=team.id)) == ["Duty"]  # no rota: as before
    assert names(rota.on_call_at(NOW, team_id=None)) == ["Duty"]

    ann = person("Ann", team)
    rotation([ann], team=team)
    assert names(rota.on_call_at(NOW, team_id=team.id)) == ["Ann", "Duty"]
    assert names(rota.on_call_at(NOW, team_id=other.id)) == ["Duty"]
    account_service.set_on_call(duty.id, on_call=False)
    assert names(rota.on_call_at(NOW, team_id=team.id)) == ["Ann"]


def test_a_cross_team_rotation_covers_every_team_beside_the_team_rotations(team, other) -> None:
    ann, zed = person("Ann", team), person("Zed", None, role=Role.HS_LEAD)
    rotation([ann], team=team)
    rotation([zed], team=None)

    assert names(rota.on_call_at(NOW, team_id=team.id)) == ["Ann", "Zed"]
    assert names(rota.on_call_at(NOW, team_id=other.id)) == ["Zed"]
    assert names(rota.on_call_at(NOW, team_id=None)) == ["Zed"]


def test_a_deactivated_member_is_skipped_and_the_others_share_the_turns(team) -> None:
    ann, bob, cat = person("Ann", team), person("Bob", team), person("Cat", team)
    rotation([ann, bob, cat], team=team)
    bob.active = False
    db.session.flush()
    assert names(rota.on_call_at(utc(2026, 3, 3, 12), team_id=team.id)) == ["Cat"]  # turn 1 of [Ann, Cat]


def test_next_on_call_is_the_next_change_and_when(team) -> None:
    ann, bob = person("Ann", team), person("Bob", team)
    rotation([ann, bob], team=team)

    people, at = rota.next_on_call(utc(2026, 3, 2, 12), team_id=team.id) or ([], None)
    assert (names(people), at) == (["Bob"], utc(2026, 3, 3, 9))
    assert rota.next_on_call(NOW, team_id=None) is None  # nothing across teams, nothing changes


def test_gaps_are_the_periods_with_nobody(team) -> None:
    night = person("Night", team)
    layer = service.create_layer(name="Out of hours", priority=10, windows=OUT_OF_HOURS, now=NOW)
    rotation([night], team=team, layer_id=layer.id, starts_on=date(2026, 3, 1))

    found = rota.gaps_ahead(utc(2026, 3, 2, 12), team_id=team.id)
    assert [(g.starts_at, g.ends_at) for g in found] == [
        (utc(2026, 3, 2, 12), utc(2026, 3, 2, 17)),  # the one in progress, from now
        (utc(2026, 3, 3, 9), utc(2026, 3, 3, 17)),
        (utc(2026, 3, 4, 9), utc(2026, 3, 4, 17)),
        (utc(2026, 3, 5, 9), utc(2026, 3, 5, 17)),
        (utc(2026, 3, 6, 9), utc(2026, 3, 6, 17)),
        (utc(2026, 3, 9, 9), utc(2026, 3, 9, 12)),  # to the end of the 7 days
    ]


def test_bad_rota_input_names_the_field(team) -> None:
    with pytest.raises(ValidationFailed) as caught:
        service.create_layer(
            name="x", priority=1, windows=[{"days": ["funday"], "from": "17:00", "until": "9"}], now=NOW
        )
    assert set(caught.value.errors["windows"]["0"]) == {"days", "until"}  # type: ignore[index]
    with pytest.raises(ValidationFailed) as caught:
        service.create_rotation(
            name="r",
            team_id=team.id,
            layer_id=None,
            handover_time=time(9),
            shift_length=0,
            shift_unit=ShiftUnit.DAYS,
            starts_on=date(2026, 3, 2),
            now=NOW,
        )
    assert "shift_length" in caught.value.errors
    ann = person("Ann", team)
    with pytest.raises(ValidationFailed) as caught:
        service.create_override(
            user_id=ann.id, team_id=None, starts_at=NOW, ends_at=NOW, note=None, created_by_id=None, now=NOW
        )
    assert "ends_at" in caught.value.errors
