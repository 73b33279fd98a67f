"""The rota in escalation: the `on_call` group is whoever is on call at the moment of the step; the
person whose turn starts is texted once; admins hear of a gap in cover once."""

from __future__ import annotations

from datetime import date, time
from typing import Any

import pytest

from safetycheck.accounts import rota, rota_service
from safetycheck.accounts import service as account_service
from safetycheck.accounts.enums import Role
from safetycheck.accounts.models import User
from safetycheck.accounts.rota_models import ShiftUnit
from safetycheck.escalation.enums import MessagePurpose
from safetycheck.escalation.rota_notices import flag_gaps, text_handovers
from safetycheck.extensions import db
from tests import factories
from tests.conftest import START
from tests.escalation import helpers as h

NIGHTS = [
    {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "from": "17:00", "until": "09:00"},
    {"days": ["sat", "sun"], "from": "09:00", "until": "17:00"},
]


def _people(app: Any, org: Any, *names: str) -> list[User]:
    """Duty officers outside the team, and the old flag taken off the org's on-call manager."""
    with h.session(app):
        account_service.set_on_call(org.on_call.id, on_call=False)
        db.session.commit()
        made = [factories.make_user(now=START, role=Role.HS_LEAD, name=name) for name in names]
        factories.loaded(*made)
        return made


def _rotation(
    app: Any,
    members: list[User],
    *,
    team_id: int | None,
    handover: time,
    starts_on: date,
    layer_windows: list[dict[str, Any]] | None = None,
) -> int:
    with h.session(app):
        layer_id = None
        if layer_windows is not None:
            layer_id = rota_service.create_layer(
                name="Nights", priority=10, windows=layer_windows, now=START
            ).id
        made = rota_service.create_rotation(
            name="Duty",
            team_id=team_id,
            layer_id=layer_id,
            handover_time=handover,
            shift_length=1,
            shift_unit=ShiftUnit.DAYS,
            starts_on=starts_on,
            member_ids=[m.id for m in members],
            now=START,
        )
        db.session.commit()
        return made.id


def test_the_on_call_step_texts_whoever_is_on_call_at_the_moment_of_the_step(
    app, clock, org, worker, console_sms, sweep
) -> None:
    early, late = _people(app, org, "Early Duty", "Late Duty")
    # Early's turn runs to 09:40 today, Late's from then: the visit starts in Early's turn, its
    # on-call step (20 minutes after the 09:30 due time) falls in Late's.
    _rotation(app, [early, late], team_id=org.team.id, handover=time(9, 40), starts_on=date(2026, 3, 1))
    visit = h.check_in(worker, minutes=30)
    due = h.due_at(visit)
    for minute in (0, 10, 20):
        h.move_to(clock, due, minutes=minute)
        sweep()
    alarm = h.only_alarm(app, visit["id"])
    texted = {row.recipient_id for row in h.escalations(app, alarm.id)}
    assert late.id in texted
    assert early.id not in texted


def test_the_person_whose_turn_starts_is_texted_once_per_turn(app, clock, org, console_sms, sweep) -> None:
    ann, bob = _people(app, org, "Ann Duty", "Bob Duty")
    _rotation(app, [ann, bob], team_id=None, handover=time(9, 0), starts_on=date(2026, 3, 2))

    for minutes in (0, 1, 30, 60 * 23):
        h.move_to(clock, START, minutes=minutes)
        sweep()
        sweep()  # a second sweeper deciding the same turn finds it decided
    h.move_to(clock, START, hours=24)
    sweep()
    with h.session(app):
        assert text_handovers(db.session, clock.now()) == 0  # and called straight, again nothing

    texts = [m for m in console_sms.sent if "your turn on call" in m.body]
    assert [m.to for m in texts] == [ann.phone, bob.phone]
    assert "until 09:00 GMT Tue 3 Mar" in texts[0].body
    assert "Acacia" not in texts[0].body
    assert "ACK" not in texts[0].body
    assert {r.purpose for r in h.outbox(app, recipient_id=ann.id)} == {MessagePurpose.ROTA}


def test_a_gap_in_cover_is_flagged_to_the_admins_once(app, clock, org, console_sms, sweep) -> None:
    [night] = _people(app, org, "Night Duty")
    _rotation(
        app,
        [night],
        team_id=org.team.id,
        handover=time(17, 0),
        starts_on=date(2026, 3, 1),
        layer_windows=NIGHTS,
    )

    h.move_to(clock, START, hours=3)  # Monday 12:00, nobody on call by day
    sweep()
    sweep()
    h.move_to(clock, START, hours=4)
    sweep()
    gaps = [m.body for m in console_sms.sent if m.to == org.admin.phone]
    assert len(gaps) == 2  # this team's gap by day, and the other team's, which has no rota at all
    assert any(
        f"nobody is on call for {org.team.name} from 09:00 GMT Mon 2 Mar until 17:00" in b for b in gaps
    )
    assert any(org.other_team.name in b for b in gaps)

    h.move_to(clock, START, days=1, hours=1)  # Tuesday's gap is the next one now
    sweep()
    with h.session(app):
        assert flag_gaps(db.session, clock.now()) == 0
    later = [m.body for m in console_sms.sent if m.to == org.admin.phone][2:]
    assert len(later) == 1
    assert "Tue 3 Mar" in later[0]


@pytest.mark.parametrize("on_call_flag", [True, False])
def test_without_a_rota_nothing_is_texted_and_the_flag_decides(
    app, clock, org, console_sms, sweep, on_call_flag
) -> None:
    if not on_call_flag:
        with h.session(app):
            account_service.set_on_call(org.on_call.id, on_call=False)
            db.session.commit()
    h.move_to(clock, START, hours=3)
    sweep()
    assert console_sms.sent == []
    with h.session(app):
        expected = [org.on_call.id] if on_call_flag else []
        assert [u.id for u in rota.on_call_at(clock.now(), team_id=org.team.id)] == expected
