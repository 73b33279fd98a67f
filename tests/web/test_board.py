"""/board with the Flask test client: who sees it, the order of alarms, acknowledge and resolve
as form posts (CSRF, reach, a bad outcome), the alarm's own page and the passive poll."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from safetycheck.escalation.enums import AlarmStatus
from tests.escalation import helpers as h

PANIC = "/api/v1/alarms"
DASH = "\N{EN DASH}"  # page titles read "Board, en dash, SafetyCheck"


def overdue_alarm(as_user, clock, sweep, app, practitioner, *, texted_managers: bool = True):
    """A visit left 30 minutes ago without a check-out, its alarm raised (and managers texted)."""
    visit = h.check_in(as_user(practitioner), minutes=30)
    clock.advance(minutes=31)
    sweep()
    if texted_managers:
        clock.advance(minutes=10)
        sweep()
    return h.only_alarm(app, visit["id"])


def panic(as_user, sweep, app, practitioner, **body):
    answer = as_user(practitioner).post(PANIC, json={"kind": "panic", **body})
    assert answer.status_code == 201, answer.get_json()
    sweep()
    return h.alarm(app, answer.get_json()["id"])


def text(response) -> str:
    return response.get_data(as_text=True)


def alarm_order(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'data-alarm-id="(\d+)"', html)]


# --- who may open it ----------------------------------------------------------------------------


def test_a_stranger_is_sent_to_sign_in(web) -> None:
    assert web.get("/board").location == "/login?next=/board"
    poll = web.client.get("/board/live", headers={"HX-Request": "true"})
    assert poll.status_code == 401
    assert poll.headers["HX-Redirect"] == "/login?next=/board/live"


def test_managers_and_admins_get_buttons_leads_only_read(
    web_as, org, as_user, clock, sweep, app, console_sms
) -> None:
    alarm = panic(as_user, sweep, app, org.practitioner)
    for who in ("manager", "admin"):
        page = web_as(getattr(org, who)).get("/board")
        assert page.status_code == 200, who
        assert f'Acknowledge<span class="govuk-visually-hidden"> alarm {alarm.code}' in text(page)
        assert ">Resolve<" in text(page)
    lead = web_as(org.lead)
    page = lead.get("/board")
    assert page.status_code == 200
    assert alarm.code in text(page)
    assert "Acknowledge" not in text(page)
    assert ">Resolve<" not in text(page)
    assert lead.post(f"/board/alarms/{alarm.id}/acknowledge").status_code == 403
    assert lead.get(f"/board/alarms/{alarm.id}/resolve").status_code == 403
    assert h.alarm(app, alarm.id).status == AlarmStatus.OPEN


def test_practitioners_get_no_board_and_never_see_their_duress_alarm(web_as, org, as_user, app) -> None:
    phone = as_user(org.practitioner)
    visit = h.check_in(phone)
    assert phone.post(f"/api/v1/visits/{visit['id']}/checkout", json={"pin": "9911"}).status_code == 200
    [duress] = h.alarms_for_visit(app, visit["id"])
    assert duress.kind == "duress"

    practitioner = web_as(org.practitioner)
    for url in ("/board", "/board/live", f"/board/alarms/{duress.id}"):
        response = practitioner.get(url)
        assert response.status_code == 403, url
        assert duress.code not in text(response)

    # The managers, who must act on it, see it.
    page = text(web_as(org.manager).get("/board"))
    assert duress.code in page
    assert "Duress" in page


def test_another_teams_alarm_is_404_and_cannot_be_acknowledged(
    web_as, org, as_user, sweep, app, console_sms
) -> None:
    alarm = panic(as_user, sweep, app, org.practitioner)
    stranger = web_as(org.other_manager)
    assert alarm.code not in text(stranger.get("/board"))
    assert stranger.get(f"/board/alarms/{alarm.id}").status_code == 404
    assert stranger.get(f"/board/alarms/{alarm.id}/resolve").status_code == 404
    assert stranger.post(f"/board/alarms/{alarm.id}/acknowledge").status_code == 404
    assert stranger.post(f"/board/alarms/{alarm.id}/resolve", {"outcome": "safe"}).status_code == 404
    assert stranger.get("/board/alarms/424242").status_code == 404
    assert h.alarm(app, alarm.id).status == AlarmStatus.OPEN


# --- what the board shows -----------------------------------------------------------------------


def test_an_open_alarm_shows_who_where_since_code_texted_and_map(
    web_as, org, as_user, clock, sweep, app, console_sms
) -> None:
    phone = as_user(org.practitioner)
    h.check_in(phone, address="14 Acacia Avenue, Leeds LS6 2AB")
    alarm = panic(as_user, sweep, app, org.practitioner, location=h.LOCATION)
    page = text(web_as(org.manager).get("/board"))
    assert "Priya Practitioner" in page
    assert "14 Acacia Avenue, Leeds LS6 2AB" in page
    assert "Panic" in page
    assert alarm.code in page
    assert "09:00" in page  # since (GMT on 2 March)
    assert "Nobody has taken charge" in page  # status in words, not colour alone
    assert "https://www.openstreetmap.org/?mlat=53.81234&amp;mlon=-1.56789#map=17/53.81234/-1.56789" in page
    assert "<iframe" not in page
    assert "Morgan Manager</strong>: sent" in page
    assert "no answer" in page
    assert f"<title>(1) New alarm {DASH} Board {DASH} SafetyCheck</title>" in page


def test_a_panic_without_a_visit_says_so(web_as, org, as_user, sweep, app, console_sms) -> None:
    panic(as_user, sweep, app, org.practitioner)
    page = text(web_as(org.manager).get("/board"))
    assert "No visit in progress" in page
    assert "Not shared" in page


def test_alarms_come_nobody_in_charge_first_then_panic_and_duress_then_oldest(
    web_as, org, as_user, clock, sweep, app, console_sms
) -> None:
    overdue = overdue_alarm(as_user, clock, sweep, app, org.colleague)  # raised first
    clock.advance(minutes=1)
    first_panic = panic(as_user, sweep, app, org.practitioner)
    manager = web_as(org.manager)
    assert alarm_order(text(manager.get("/board"))) == [first_panic.id, overdue.id]

    # Once someone has taken charge of the panic, the overdue alarm that nobody has comes first.
    assert manager.post(f"/board/alarms/{first_panic.id}/acknowledge").status_code == 302
    clock.advance(minutes=1)
    second_panic = panic(as_user, sweep, app, org.practitioner)  # a new press: a new alarm
    assert alarm_order(text(manager.get("/board"))) == [second_panic.id, overdue.id, first_panic.id]
    assert f"<title>(2) New alarms {DASH} Board {DASH} SafetyCheck</title>" in text(manager.get("/board"))


def test_visits_overdue_active_and_completed_today(
    web_as, org, as_user, clock, sweep, app, console_sms
) -> None:
    colleague = as_user(org.colleague)
    # Yesterday evening's visit is not on today's board.
    start = clock.now()
    clock.set(start - timedelta(hours=10))  # 23:00 the day before
    earlier = h.check_in(colleague, minutes=30, address="1 Yesterday Road")
    assert colleague.post(f"/api/v1/visits/{earlier['id']}/checkout", json={}).status_code == 200
    clock.set(start)
    done = h.check_in(colleague, minutes=30, address="2 Morning Street")
    clock.advance(minutes=20)
    assert colleague.post(f"/api/v1/visits/{done['id']}/checkout", json={}).status_code == 200
    h.check_in(colleague, minutes=60, address="3 Active Lane")
    late = h.check_in(as_user(org.practitioner), minutes=10, address="4 Late Close")
    clock.advance(minutes=15)
    sweep()

    page = text(web_as(org.manager).get("/board"))
    overdue = page.index('id="overdue-visits"')
    active = page.index('id="active-visits"')
    completed = page.index('id="completed-today"')
    assert overdue < page.index("4 Late Close", overdue) < active  # (its alarm above names it too)
    assert active < page.index("3 Active Lane") < completed
    assert "45 min" in page[active:completed]  # time left
    assert completed < page.index("2 Morning Street")
    assert "1 Yesterday Road" not in page
    alarm = h.only_alarm(app, late["id"])
    assert f"Alarm {alarm.code}" in page[overdue:active]


# --- acknowledge --------------------------------------------------------------------------------


def test_acknowledge_takes_charge_and_says_so(web_as, org, as_user, clock, sweep, app, console_sms) -> None:
    alarm = overdue_alarm(as_user, clock, sweep, app, org.practitioner)
    manager = web_as(org.manager)
    response = manager.post(f"/board/alarms/{alarm.id}/acknowledge")
    assert response.status_code == 302
    assert response.location == "/board"
    page = text(manager.get("/board"))
    assert f"You took charge of alarm {alarm.code} for Priya Practitioner." in page
    assert "govuk-notification-banner--success" in page
    assert "Taken charge" in page
    taken = h.alarm(app, alarm.id)
    assert taken.status == AlarmStatus.ACKNOWLEDGED
    assert taken.acknowledged_by == org.manager.id
    assert taken.acknowledged_via == "web"
    sweep()  # sends the notices
    # The others texted hear who took charge, "on the board".
    assert any(
        "has taken charge" in b and "on the board" in b for b in h.bodies_to(console_sms, org.on_call.phone)
    )


def test_a_second_acknowledgement_shows_who_already_took_charge(
    web_as, org, as_user, clock, sweep, app, console_sms
) -> None:
    alarm = panic(as_user, sweep, app, org.practitioner)
    assert web_as(org.manager).post(f"/board/alarms/{alarm.id}/acknowledge").status_code == 302
    late = web_as(org.on_call)
    response = late.post(f"/board/alarms/{alarm.id}/acknowledge?next=/board/alarms/{alarm.id}")
    assert response.status_code == 302
    assert response.location == f"/board/alarms/{alarm.id}"
    page = late.get(response.location)
    assert page.status_code == 200
    assert f"Morgan Manager already took charge of alarm {alarm.code} at 09:00" in text(page)
    assert h.alarm(app, alarm.id).acknowledged_by == org.manager.id


def test_a_post_without_its_csrf_token_is_refused_and_changes_nothing(
    web_as, org, as_user, sweep, app, console_sms
) -> None:
    alarm = panic(as_user, sweep, app, org.practitioner)
    manager = web_as(org.manager)
    manager.get("/board")
    for url, data in [
        (f"/board/alarms/{alarm.id}/acknowledge", {}),
        (f"/board/alarms/{alarm.id}/resolve", {"outcome": "safe"}),
    ]:
        refused = manager.post(url, data, csrf=False)
        assert refused.status_code == 400, url
        assert "nothing was changed" in text(refused)
    assert h.alarm(app, alarm.id).status == AlarmStatus.OPEN


def test_next_may_only_be_a_page_on_this_site(web_as, org, as_user, sweep, app, console_sms) -> None:
    alarm = panic(as_user, sweep, app, org.practitioner)
    response = web_as(org.manager).post(f"/board/alarms/{alarm.id}/acknowledge?next=//evil.example/")
    assert response.location == "/board"


# --- resolve ------------------------------------------------------------------------------------


@pytest.mark.parametrize("outcome", [None, "", "checked_out", "lost"])
def test_a_missing_or_bad_outcome_is_a_form_error_and_changes_nothing(
    web_as, org, as_user, sweep, app, console_sms, outcome
) -> None:
    alarm = panic(as_user, sweep, app, org.practitioner)
    manager = web_as(org.manager)
    form = manager.get(f"/board/alarms/{alarm.id}/resolve")
    assert form.status_code == 200
    assert "How did it end?" in text(form)
    response = manager.post(
        f"/board/alarms/{alarm.id}/resolve", {} if outcome is None else {"outcome": outcome}
    )
    assert response.status_code == 422
    page = text(response)
    assert "There is a problem" in page
    assert 'href="#outcome">Select how the alarm ended' in page
    assert "<title>Error: Resolve alarm" in page
    assert h.alarm(app, alarm.id).status == AlarmStatus.OPEN


def test_resolve_with_an_outcome_closes_the_alarm_and_tells_the_others(
    web_as, org, as_user, clock, sweep, app, console_sms
) -> None:
    alarm = overdue_alarm(as_user, clock, sweep, app, org.practitioner)
    manager = web_as(org.manager)
    response = manager.post(
        f"/board/alarms/{alarm.id}/resolve?next=/board",
        {"outcome": "safe", "notes": "Phoned her; battery had died."},
    )
    assert response.status_code == 302
    assert response.location == "/board"
    page = text(manager.get("/board"))
    assert f"You resolved alarm {alarm.code} for Priya Practitioner: safe." in page
    assert 'data-alarm-id="' not in page  # no open alarm left
    closed = h.alarm(app, alarm.id)
    assert closed.status == AlarmStatus.RESOLVED
    assert closed.outcome == "safe"
    assert closed.resolution_notes == "Phoned her; battery had died."
    assert h.visit(app, closed.visit_id).status == "completed"  # the overdue visit closes too
    sweep()
    assert any("STAND DOWN" in b for b in h.bodies_to(console_sms, org.on_call.phone))

    again = manager.get(f"/board/alarms/{alarm.id}/resolve")
    assert again.location == f"/board/alarms/{alarm.id}"
    assert "already resolved" in text(manager.get(again.location))


# --- the alarm's own page -----------------------------------------------------------------------


def test_the_alarm_page_shows_its_timeline_and_every_text_without_case_detail(
    web_as, org, as_user, clock, sweep, app, console_sms
) -> None:
    alarm = overdue_alarm(as_user, clock, sweep, app, org.practitioner)
    manager = web_as(org.manager)
    manager.post(f"/board/alarms/{alarm.id}/acknowledge")
    sweep()  # sends the "taken charge" notice
    page = manager.get(f"/board/alarms/{alarm.id}")
    assert page.status_code == 200
    html = text(page)
    assert f'<h1 class="govuk-heading-l">Alarm {alarm.code}</h1>' in html
    assert "Alarm raised" in html
    assert "Escalation step 2: texted Morgan Manager, Olu OnCall" in html
    assert "Morgan Manager took charge on the board" in html
    # Texts: recipient, what it was, status, time; never the body.
    assert "Priya Practitioner</td>" in html  # the first text went to her
    assert "Someone took charge" in html
    assert "Sent" in html
    assert "SAFETYCHECK OVERDUE" not in html
    assert "Acknowledge" not in html  # already taken charge
    assert ">Resolve<" in html


# --- the poll -----------------------------------------------------------------------------------


def test_the_poll_answers_the_fragment_and_204_when_nothing_changed(
    web_as, org, as_user, sweep, app, console_sms
) -> None:
    manager = web_as(org.manager)
    first = manager.client.get("/board/live", headers={"HX-Request": "true"})
    assert first.status_code == 200
    html = text(first)
    assert "<html" not in html
    assert "No open alarms." in html
    version = re.search(r'name="version" value="([0-9a-f]+)"', html).group(1)
    same = manager.client.get(f"/board/live?version={version}", headers={"HX-Request": "true"})
    assert same.status_code == 204

    alarm = panic(as_user, sweep, app, org.practitioner)
    changed = manager.client.get(f"/board/live?version={version}", headers={"HX-Request": "true"})
    assert changed.status_code == 200
    assert alarm.code in text(changed)
    assert f'data-title="(1) New alarm {DASH} Board {DASH} SafetyCheck"' in text(changed)


def test_the_poll_does_not_keep_an_unattended_board_signed_in(web_as, org, clock) -> None:
    manager = web_as(org.manager)
    for minutes in (30, 30, 30, 29):  # polled for 119 minutes, nobody touching it
        clock.advance(minutes=minutes)
        poll = manager.client.get("/board/live", headers={"HX-Request": "true"})
        assert poll.status_code == 200
    clock.advance(minutes=2)  # 121 minutes since the last real request
    ended = manager.client.get(
        "/board/live", headers={"HX-Request": "true", "HX-Current-URL": "http://localhost/board"}
    )
    assert ended.status_code == 401
    assert ended.headers["HX-Redirect"] == "/login?next=/board"  # the board, not its fragment

    # A person using the board (a page load) does count as activity.
    active = web_as(org.manager)
    for _ in range(3):
        clock.advance(minutes=60)
        assert active.get("/board").status_code == 200
