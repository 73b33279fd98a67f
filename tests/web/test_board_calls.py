"""The alarm's page lists its calls beside its texts, and the timeline tells what each call did."""

from __future__ import annotations

from tests.escalation.test_calls import call_policy, overdue, phone_line  # noqa: F401 (fixtures)


def test_the_alarm_page_lists_calls_and_their_outcomes(
    app,
    org,
    as_user,
    clock,
    sweep,
    phone_line,  # noqa: F811 (the fixture imported above)
    web_as,
) -> None:
    alarm, rows = overdue(app, org, as_user, clock, sweep)
    by_manager = next(r for r in rows if r.recipient_id == org.manager.id)
    other = next(r for r in rows if r.recipient_id != org.manager.id)
    phone_line.answer_call(other.sid, "busy")
    phone_line.answer_call(by_manager.sid, "answer", press="1")
    page = web_as(org.manager).get(f"/board/alarms/{alarm.id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert '<h2 class="govuk-heading-m">Calls</h2>' in html
    assert "pressed 1: took charge" in html
    assert ">busy<" in html
    assert "Morgan Manager took charge by phone, pressing 1" in html
    assert "Phoning " in html
    assert "Call to Olu OnCall ended: busy" in html
