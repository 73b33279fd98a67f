"""The demo policy parses and keeps the order of the real one, only faster."""

from safetycheck.escalation.policy import AlarmKind, load_policy
from safetycheck.paths import DEFAULT_POLICY_PATH, DEMO_POLICY_PATH


def test_demo_policy_is_the_default_ladder_compressed() -> None:
    demo = load_policy(DEMO_POLICY_PATH)
    real = load_policy(DEFAULT_POLICY_PATH)
    for kind in (AlarmKind.OVERDUE, AlarmKind.PANIC, AlarmKind.DURESS, AlarmKind.INCIDENT):
        fast, slow = demo.ladders[kind].steps, real.ladders[kind].steps
        assert [s.notify for s in fast] == [s.notify for s in slow]
        assert all(d.after <= r.after for d, r in zip(fast, slow, strict=True))
    assert demo.reminder_before_seconds < real.reminder_before_seconds
