"""The coverage check in Chromium: the phone page warns a worker nobody could be texted about,
and /admin lists the teams without cover; screenshots at 390 and 1280 px."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from safetycheck.accounts.models import User
from safetycheck.extensions import db
from tests import factories
from tests.browser.conftest import screenshot, sign_in

pytestmark = pytest.mark.browser


def lonely_practitioner(live_server: Any) -> Any:
    """A practitioner in a team with no manager, and nobody on call anywhere."""
    with live_server.session():
        db.session.execute(sa.update(User).values(on_call=False))
        db.session.commit()
        team = factories.make_team(now=live_server.clock.now(), name="Night Outreach")
        user = factories.make_user(now=live_server.clock.now(), team=team, name="Lee Alone")
        factories.loaded(user)
        return user


def no_horizontal_scroll(page: Any) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_the_phone_page_warns_and_admin_lists_the_team(new_page, live_server, live_org) -> None:
    worker = lonely_practitioner(live_server)
    phone = new_page("phone")
    phone.set_viewport_size({"width": 390, "height": 844})
    sign_in(phone, worker)
    phone.get_by_label("Address").fill("3 Quiet Lane, Leeds LS6 1AA")
    phone.get_by_label("Minutes").fill("45")
    phone.get_by_role("button", name="Check in").click()

    warning = phone.locator('[data-warning="no_cover"]')
    expect(warning).to_be_visible()
    expect(warning.get_by_role("heading", name="Nobody can be reached if you are overdue")).to_be_visible()
    expect(phone.get_by_role("button", name="Check out")).to_be_visible()  # the check-in stands
    no_horizontal_scroll(phone)
    screenshot(phone, "app-no-cover-390")
    wide = new_page("desktop")
    sign_in(wide, worker)
    expect(wide.locator('[data-warning="no_cover"]')).to_be_visible()
    screenshot(wide, "app-no-cover-1280")

    live_server.sweep()  # 09:00: the daily check runs
    for width, height in ((1280, 800), (390, 844)):
        admin = new_page("desktop")
        admin.set_viewport_size({"width": width, "height": height})
        sign_in(admin, live_org.admin)
        table = admin.locator("[data-cover-gaps]")
        expect(table).to_contain_text("Night Outreach")
        expect(table).to_contain_text("No active manager, and nobody on call")
        expect(table).not_to_contain_text(live_org.team.name)
        admin.locator("#cover").evaluate("heading => heading.scrollIntoView()")
        screenshot(admin, f"admin-cover-{width}")
