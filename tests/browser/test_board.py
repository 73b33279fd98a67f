"""/board in a real browser: an overdue visit's alarm appears on the open board without a reload,
the tab's title says so, the manager acknowledges it and the ladder stops (no further escalation
text reaches the fake Twilio). Screenshots: docs/screenshots/board.png, board-tablet.png and
board-alarm.png."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from safetycheck.accounts.models import User
from safetycheck.cli import DEMO_PASSWORD
from safetycheck.escalation.enums import AlarmStatus
from safetycheck.escalation.models import Alarm
from safetycheck.visits import service as visit_service
from tests.browser.conftest import LiveServer, screenshot, sign_in
from tests.fake_twilio import FakeTwilio

pytestmark = pytest.mark.browser


def check_in(
    live_server: LiveServer, person: User, *, address: str, minutes: int, lat: float | None = None
) -> int:
    with live_server.session() as s:
        practitioner = s.get(User, person.id)
        visit = visit_service.check_in(
            practitioner,
            address=address,
            now=live_server.clock.now(),
            max_minutes=live_server.app.config["MAX_VISIT_MINUTES"],
            duration_minutes=minutes,
            location=visit_service.Location(lat, -1.55512, 15.0) if lat is not None else None,
        ).visit
        s.commit()
        return visit.id


def check_out(live_server: LiveServer, person: User, visit_id: int) -> None:
    with live_server.session() as s:
        visit_service.check_out(s.get(User, person.id), visit_id, now=live_server.clock.now())
        s.commit()


def escalations_to_phones(fake: FakeTwilio) -> list[str]:
    return [m.to for m in fake.messages if m.body.startswith("SAFETYCHECK OVERDUE")]


def the_alarm(live_server: LiveServer) -> Any:
    with live_server.session() as s:
        alarm = s.scalar(sa.select(Alarm))
        s.expunge_all()
        return alarm


def test_an_overdue_alarm_appears_without_a_reload_and_acknowledging_stops_the_ladder(
    page, new_page, live_server, demo_org, live_twilio
) -> None:
    clock = live_server.clock
    start = clock.now()  # 09:00 GMT
    manager, sam, priya = demo_org["manager"], demo_org["sam"], demo_org["priya"]

    # Sam's first visit of the day went fine; the second is due at 09:00. Priya is still out.
    clock.set(start - timedelta(minutes=70))
    first = check_in(live_server, sam, address="3 Mill Lane, Leeds LS6 2DF", minutes=20)
    clock.set(start - timedelta(minutes=48))
    check_out(live_server, sam, first)
    clock.set(start - timedelta(minutes=30))
    check_in(live_server, sam, address="27 Elm Grove, Leeds LS6 1PQ", minutes=30, lat=53.81931)
    clock.set(start - timedelta(minutes=10))
    check_in(live_server, priya, address="9 Regent Park Terrace, Leeds LS6 2AX", minutes=60)
    clock.set(start)

    sign_in(page, manager, DEMO_PASSWORD)
    expect(page).to_have_url(re.compile(r"/board$"))
    expect(page.get_by_text("No open alarms.")).to_be_visible()
    expect(page).to_have_title("Board – SafetyCheck")  # noqa: RUF001 (the page's own dash)
    page_loads: list[str] = []
    page.on("load", lambda: page_loads.append(page.url))

    # 09:01: the sweep finds Sam overdue and texts him first; 09:11: his managers.
    clock.advance(minutes=1)
    live_server.sweep()
    acknowledge = page.get_by_role("button", name="Acknowledge")
    expect(acknowledge).to_be_visible(timeout=6000)  # within 5 s of the sweep, by the poll
    expect(page).to_have_title(re.compile(r"^\(1\) New alarm – Board"))  # noqa: RUF001
    assert page_loads == []  # no reload: the poll brought it
    clock.advance(minutes=10)
    live_server.sweep()
    live_twilio.wait_for_messages(2)
    board = page.locator("#board-live")
    expect(board.get_by_text("Morgan Manager")).to_be_visible(timeout=6000)
    expect(board.get_by_text("27 Elm Grove, Leeds LS6 1PQ").first).to_be_visible()
    expect(board.get_by_role("link", name=re.compile("Open the map"))).to_have_attribute(
        "href", re.compile(r"^https://www\.openstreetmap\.org/\?mlat=53\.81931&mlon=-1\.55512")
    )
    expect(board.get_by_role("heading", name="Active visits (1)")).to_be_visible()
    expect(board.get_by_role("heading", name="Completed today (1)")).to_be_visible()
    screenshot(page, "board")

    tablet = new_page("tablet")
    sign_in(tablet, manager, DEMO_PASSWORD)
    expect(tablet.get_by_role("button", name="Acknowledge")).to_be_visible()
    assert tablet.evaluate("document.documentElement.scrollWidth") <= 768  # no sideways scroll
    screenshot(tablet, "board-tablet")

    alarm = the_alarm(live_server)
    escalated = escalations_to_phones(live_twilio)
    assert escalated == [manager.phone]  # (Sam had the first text, asking him to reply OK)
    assert sam.phone in [m.to for m in live_twilio.messages]

    acknowledge.click()
    expect(page.get_by_text(f"You took charge of alarm {alarm.code} for Sam Practitioner.")).to_be_visible()
    expect(page.get_by_role("button", name="Acknowledge")).to_have_count(0)
    expect(page.locator("#board-live").get_by_text("Taken charge", exact=True)).to_be_visible()
    expect(page).to_have_title("Board – SafetyCheck")  # noqa: RUF001
    taken = the_alarm(live_server)
    assert taken.status == AlarmStatus.ACKNOWLEDGED
    assert taken.acknowledged_by == manager.id
    assert taken.acknowledged_via == "web"

    # The ladder has stopped: past its next step (09:21, on-call) and its repeats, nobody more is texted.
    for _ in range(3):
        clock.advance(minutes=10)
        live_server.sweep()
    assert escalations_to_phones(live_twilio) == escalated
    assert demo_org["oncall"].phone not in [m.to for m in live_twilio.messages]

    page.get_by_role("link", name=re.compile(f"Alarm {alarm.code}")).first.click()
    expect(page.get_by_role("heading", name=f"Alarm {alarm.code}", level=1)).to_be_visible()
    expect(page.get_by_text("Morgan Manager took charge on the board")).to_be_visible()
    texts = page.get_by_role("table")
    expect(texts.get_by_role("cell", name="Sam Practitioner")).to_be_visible()
    expect(texts.get_by_role("cell", name="Morgan Manager")).to_be_visible()
    screenshot(page, "board-alarm")


def test_another_teams_alarm_is_404_in_the_browser(page, live_server, live_org) -> None:
    with live_server.session() as s:
        from safetycheck.escalation import panic

        alarm = panic.raise_panic(s.get(User, live_org.practitioner.id), now=live_server.clock.now())
        s.commit()
        alarm_id = alarm.id
    sign_in(page, live_org.other_manager)
    response = page.goto(f"/board/alarms/{alarm_id}")
    assert response is not None
    assert response.status == 404
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()


def test_an_unattended_board_signs_out_after_the_idle_timeout(page, live_server, live_org) -> None:
    sign_in(page, live_org.manager)
    expect(page.get_by_text("No open alarms.")).to_be_visible()
    live_server.clock.advance(minutes=119)
    page.wait_for_timeout(3500)  # polls arrive meanwhile; they do not count as use
    expect(page).to_have_url(re.compile(r"/board$"))
    live_server.clock.advance(minutes=2)
    expect(page).to_have_url(re.compile(r"/login\?next=/board$"), timeout=6000)
    expect(page.get_by_text("Sign in again to continue")).to_be_visible()
