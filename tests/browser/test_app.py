"""The phone page in Chromium at 360x740 with touch: check in past a warning, extend, check out;
offline queueing and delivery; duress looks like any check-out; press-and-hold Panic; and the
page opening from the service worker's cache with the network off."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from safetycheck.escalation.enums import AlarmKind
from safetycheck.escalation.models import Alarm
from safetycheck.households.enums import MarkerControl
from safetycheck.timeline.models import TimelineEntry
from safetycheck.visits.enums import VisitStatus
from safetycheck.visits.models import Visit
from tests.browser.conftest import screenshot, sign_in
from tests.web.app_markers import MARKED, REASON, mark_household

pytestmark = pytest.mark.browser

PIN = "9911"


def visits(live_server: Any) -> list[Visit]:
    with live_server.session() as s:
        rows = list(s.scalars(sa.select(Visit).order_by(Visit.id)))
        s.expunge_all()
        return rows


def alarms(live_server: Any) -> list[tuple[AlarmKind, str]]:
    with live_server.session() as s:
        rows = s.scalars(sa.select(Alarm).where(Alarm.kind != AlarmKind.INCIDENT).order_by(Alarm.id))
        return [(a.kind, a.status.value) for a in rows]


def check_in(page: Any, address: str = "1 Park Road, Leeds LS6 2AB", minutes: str = "30") -> None:
    page.get_by_label("Address").fill(address)
    page.get_by_label("Minutes").fill(minutes)
    page.get_by_role("button", name="Check in").click()


def no_horizontal_scroll(page: Any) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_check_in_past_a_warning_extend_and_check_out(phone_page, live_server, live_org) -> None:
    page = phone_page
    with live_server.session():
        mark_household(live_org, now=live_server.clock.now(), controls=[MarkerControl.WRITTEN_AGREEMENT])
    sign_in(page, live_org.practitioner)
    expect(page.get_by_role("heading", name="Check in")).to_be_visible()
    no_horizontal_scroll(page)

    check_in(page, MARKED)
    expect(page.get_by_role("heading", name="Before you go in")).to_be_visible()
    expect(page.get_by_text(REASON)).to_be_visible()
    assert visits(live_server) == []  # the warning comes before anything is recorded
    screenshot(page, "app-checkin")
    page.get_by_role("button", name="Check in").click()

    expect(page.get_by_role("heading", name=f"Visit at {MARKED}")).to_be_visible()
    expect(page.locator("[data-countdown-time]")).to_have_text(re.compile(r"^(29:[0-5]\d|30:00)$"))
    no_horizontal_scroll(page)
    for name in ("Check out", "Extend", "Panic"):
        box = page.get_by_role("button", name=name, exact=True).bounding_box()
        assert box is not None
        assert box["height"] >= 48, name
    screenshot(page, "app-visit")

    page.get_by_role("button", name="+15 min").click()
    expect(page.locator("[data-due-time]")).to_have_text("09:45")
    page.get_by_label("Minutes").fill("10")
    page.get_by_role("button", name="Extend", exact=True).click()
    expect(page.locator("[data-due-time]")).to_have_text("09:55")

    page.get_by_label("PIN").fill("1234")
    page.get_by_role("button", name="Check out").click()
    expect(page.get_by_text("You have checked out. Stay safe.")).to_be_visible()
    [visit] = visits(live_server)
    assert visit.status == VisitStatus.COMPLETED
    assert visit.due_at.strftime("%H:%M") == "09:55"
    assert alarms(live_server) == []


def test_a_check_out_made_offline_is_queued_then_delivered_once(phone_page, live_server, live_org) -> None:
    page = phone_page
    sign_in(page, live_org.colleague)
    check_in(page)
    expect(page.get_by_role("button", name="Check out")).to_be_visible()

    page.context.set_offline(True)
    page.get_by_role("button", name="Check out").click()
    banner = page.locator("[data-queue-banner]")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("Check out: queued at")
    expect(banner).to_contain_text("The timer on the server is still running")
    expect(banner).to_contain_text("OK")
    screenshot(page, "app-queued")
    assert visits(live_server)[0].status == VisitStatus.ACTIVE

    page.context.set_offline(False)
    expect(page.get_by_text("You have checked out. Stay safe.")).to_be_visible(timeout=15_000)
    [visit] = visits(live_server)
    assert visit.status == VisitStatus.COMPLETED
    with live_server.session() as s:
        outs = s.scalars(sa.select(TimelineEntry).where(TimelineEntry.event == "checked_out")).all()
        assert len(outs) == 1
    assert page.evaluate(
        "localStorage.length === 0 || Object.keys(localStorage).every(k => localStorage[k] === '[]')"
    )

    live_server.clock.advance(minutes=45)  # well past the due time
    live_server.sweep()
    assert [m.body for m in live_server.sms.sent if "due to end" in m.body or "ACK" in m.body] == []
    assert alarms(live_server) == []


def after_check_out(page: Any) -> str:
    """The page as the person sees it after checking out, less what differs on every render."""
    html = page.content()
    html = re.sub(r'value="[^"]{40,}"', "<token>", html)
    html = re.sub(r"X-CSRFToken&quot;: &quot;[^&]+&quot;|X-CSRFToken\": \"[^\"]+\"", "<csrf>", html)
    html = re.sub(r'nonce="[^"]*"', "<nonce>", html)
    return re.sub(r'data-server-now="[^"]+"', "<now>", html)


def test_a_duress_check_out_looks_like_any_other_and_the_manager_is_texted(
    phone_page, live_server, live_org, live_twilio
) -> None:
    page = phone_page
    sign_in(page, live_org.practitioner)
    seen = []
    for pin in ("2468", PIN):
        check_in(page)
        page.get_by_label("PIN").fill(pin)
        page.get_by_role("button", name="Check out").click()
        expect(page.get_by_text("You have checked out. Stay safe.")).to_be_visible()
        seen.append((page.url, after_check_out(page)))
    assert seen[0] == seen[1]
    assert [kind for kind, _ in alarms(live_server)] == [AlarmKind.DURESS]

    live_server.sweep()
    to_manager = [m.body for m in live_twilio.messages if m.to == live_org.manager.phone]
    assert len(to_manager) == 1
    assert "Priya Practitioner" in to_manager[0]
    assert "Reply ACK" in to_manager[0]
    assert [m for m in live_twilio.messages if m.to == live_org.practitioner.phone] == []


def eventually(check: Any, seconds: float = 8.0) -> None:
    """Wait (briefly, polling) for what the page sends in the background to reach the server."""
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "the server never saw it"
        time.sleep(0.1)


def hold(page: Any, seconds: float) -> None:
    box = page.get_by_role("button", name="Panic").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.wait_for_timeout(seconds * 1000)
    page.mouse.up()


def test_panic_fires_only_after_the_hold_and_the_manager_is_texted(phone_page, live_server, live_org) -> None:
    page = phone_page
    sign_in(page, live_org.practitioner)
    check_in(page)
    panic = page.get_by_role("button", name="Panic")
    panic.tap()
    panic.click()
    box = panic.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.wait_for_timeout(1000)
    progress = float(page.locator("[data-panic-fill]").evaluate("e => e.style.getPropertyValue('--hold')"))
    assert 0.3 < progress < 0.8  # the bar fills as it is held
    expect(page.get_by_text("Keep holding…")).to_be_visible()
    page.mouse.up()  # let go too soon
    expect(page.get_by_text("Not sent. Press and hold for 2 seconds")).to_be_visible()
    page.wait_for_timeout(500)
    expect(page.get_by_text("Help is on its way", exact=True)).to_be_hidden()
    assert alarms(live_server) == []

    hold(page, 2.4)
    expect(page.get_by_text("Help is on its way", exact=True)).to_be_visible()
    eventually(lambda: alarms(live_server) == [(AlarmKind.PANIC, "open")])
    page.wait_for_load_state()
    expect(page.get_by_text("Help is on its way", exact=True)).to_be_visible()  # and after the reload
    live_server.sweep()
    texts = [m.body for m in live_server.sms.sent if m.to == live_org.manager.phone]
    assert len(texts) == 1
    assert "Priya Practitioner" in texts[0]

    with live_server.session() as s:
        from safetycheck.escalation import alarms as alarm_service

        alarm = s.scalars(sa.select(Alarm)).one()
        manager = s.get(type(live_org.manager), live_org.manager.id)
        alarm_service.acknowledge(alarm, actor=manager, now=live_server.clock.now(), via="web")
        s.commit()
    expect(page.get_by_text("Morgan Manager has taken charge")).to_be_visible(timeout=12_000)
    screenshot(page, "app-panic")

    # The keyboard: Space held down for the same time (a new alarm, since one was taken charge of).
    panic.focus()
    page.keyboard.down(" ")
    page.wait_for_timeout(2400)
    page.keyboard.up(" ")
    eventually(lambda: alarms(live_server) == [(AlarmKind.PANIC, "acknowledged"), (AlarmKind.PANIC, "open")])


PAGE_IS_CACHED = """async () => {
  for (const name of await caches.keys()) {
    if (await (await caches.open(name)).match('/app')) return true
  }
  return false
}"""


def test_the_page_opens_from_the_service_worker_cache_with_no_signal(
    phone_page, live_server, live_org
) -> None:
    page = phone_page
    sign_in(page, live_org.colleague)
    check_in(page)
    expect(page.get_by_role("button", name="Check out")).to_be_visible()
    page.wait_for_function("navigator.serviceWorker.controller !== null", timeout=10_000)
    page.wait_for_function("caches.keys().then(k => k.length > 0)")
    page.wait_for_function(PAGE_IS_CACHED)
    page.context.set_offline(True)
    page.reload()
    expect(page.get_by_role("button", name="Check out")).to_be_visible()
    expect(page.get_by_role("button", name="Panic")).to_be_visible()
    page.get_by_role("button", name="+30 min").click()
    expect(page.locator("[data-queue-banner]")).to_contain_text("Extend by 30 minutes: queued at")
    page.context.set_offline(False)
    expect(page.locator("[data-due-time]")).to_have_text("10:00", timeout=15_000)


def test_location_is_shared_only_with_consent_and_shown_while_shared(
    phone_page, live_server, live_org
) -> None:
    page = phone_page
    page.context.grant_permissions(["geolocation"])
    page.context.set_geolocation({"latitude": 53.8008, "longitude": -1.5491, "accuracy": 25})
    sign_in(page, live_org.colleague)
    check_in(page)  # the box not ticked: no position taken
    expect(page.get_by_role("button", name="Check out")).to_be_visible()
    expect(page.get_by_text("Location shared")).to_have_count(0)
    assert visits(live_server)[0].last_lat is None
    page.get_by_role("button", name="Check out").click()
    expect(page.get_by_text("You have checked out. Stay safe.")).to_be_visible()

    page.get_by_label("Address").fill("2 Park Road, Leeds")
    page.get_by_label("Minutes").fill("30")
    page.get_by_label("Share my location with my managers during this visit").check()
    page.get_by_role("button", name="Check in").click()
    expect(page.get_by_text("Location shared")).to_be_visible()
    visit = visits(live_server)[-1]
    assert (round(visit.last_lat, 4), round(visit.last_lon, 4), visit.last_accuracy_m) == (
        53.8008,
        -1.5491,
        25,
    )
    page.get_by_role("button", name="Check out").click()
    expect(page.get_by_text("You have checked out. Stay safe.")).to_be_visible()
    assert visits(live_server)[-1].last_lat is None  # tracking ends with the visit


def test_the_reminder_text_shows_on_the_open_page(phone_page, live_server, live_org) -> None:
    page = phone_page
    sign_in(page, live_org.colleague)
    check_in(page)
    expect(page.locator("[data-reminder]")).to_be_hidden()
    live_server.clock.advance(minutes=26)
    live_server.sweep()
    [reminder] = [m.body for m in live_server.sms.sent if m.to == live_org.colleague.phone]
    expect(page.locator("[data-reminder]")).to_be_visible(timeout=8000)  # the poll, no reload
    expect(page.locator("[data-reminder-text]")).to_have_text(reminder)


def test_a_visit_ended_by_text_ends_on_the_open_page_too(phone_page, live_server, live_org) -> None:
    from safetycheck.visits import service as visit_service

    page = phone_page
    sign_in(page, live_org.colleague)
    check_in(page)
    expect(page.get_by_role("button", name="Check out")).to_be_visible()
    [visit] = visits(live_server)
    with live_server.session() as s:  # as the OK text does
        worker = s.get(type(live_org.colleague), live_org.colleague.id)
        visit_service.check_out(worker, visit.id, now=live_server.clock.now())
        s.commit()
    expect(page.get_by_role("heading", name="Check in")).to_be_visible(timeout=8000)
