"""The alarm detail shows its timeline and texts; admins find the numbers Twilio refused."""

from __future__ import annotations

from typing import Any


def test_alarm_detail_lists_timeline_and_texts(
    org: Any, as_user: Any, clock: Any, sweep: Any, console_sms: Any
) -> None:
    as_user(org.practitioner).post(
        "/api/v1/visits", json={"address": "3 Mill Lane, York", "duration_minutes": 20}
    )
    clock.advance(minutes=21)
    sweep()  # the worker is texted
    clock.advance(minutes=10)
    sweep()  # their managers are texted
    manager = as_user(org.manager)
    alarm = manager.get("/api/v1/alarms").json["items"][0]
    manager.post(f"/api/v1/alarms/{alarm['id']}/acknowledge")
    detail = manager.get(f"/api/v1/alarms/{alarm['id']}").json
    assert [e["event"] for e in detail["timeline"]] == ["raised", "escalated", "escalated", "acknowledged"]
    sent = [(t["purpose"], t["to_phone"], t["step_execution"], t["status"]) for t in detail["texts"]]
    assert sent == [
        ("escalation", org.practitioner.phone, 1, "sent"),
        ("escalation", org.manager.phone, 2, "sent"),
        ("escalation", org.on_call.phone, 2, "sent"),  # a manager of the same team
        ("taken_charge", org.on_call.phone, None, "pending"),
    ]
    assert as_user(org.other_manager).get(f"/api/v1/alarms/{alarm['id']}").status_code == 404


def test_admin_lists_users_with_undeliverable_phones(org: Any, as_user: Any, app: Any, clock: Any) -> None:
    from safetycheck.accounts.models import User
    from safetycheck.extensions import db

    with app.app_context():
        user = db.session.get(User, org.colleague.id)
        user.phone_undeliverable_at = clock.now()
        user.phone_undeliverable_reason = "Twilio error 21211: invalid number"
        db.session.commit()
    admin = as_user(org.admin)
    flagged = admin.get("/api/v1/users?undeliverable=true").json
    assert [(u["id"], u["phone_undeliverable"]) for u in flagged["items"]] == [(org.colleague.id, True)]
    fixed = admin.patch(f"/api/v1/users/{org.colleague.id}", json={"phone": "07700 900321"})
    assert fixed.status_code == 200
    assert (fixed.json["phone"], fixed.json["phone_undeliverable"]) == ("+447700900321", False)
    assert admin.get("/api/v1/users?undeliverable=true").json["total"] == 0
    assert as_user(org.manager).get("/api/v1/users").status_code == 403


def test_a_read_only_request_records_when_the_token_was_last_used(
    org: Any, as_user: Any, app: Any, clock: Any
) -> None:
    import sqlalchemy as sa

    from safetycheck.accounts.models import ApiToken
    from safetycheck.extensions import db

    api = as_user(org.lead)
    clock.advance(minutes=5)
    assert api.get("/api/v1/me").status_code == 200
    with app.app_context():
        used = db.session.scalars(
            sa.select(ApiToken.last_used_at).where(ApiToken.user_id == org.lead.id)
        ).all()
    assert used == [clock.now()]
