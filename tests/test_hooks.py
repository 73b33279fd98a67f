"""Events and hooks: a required one that nobody subscribed to stops the app from starting."""

from __future__ import annotations

import pytest

from safetycheck import create_app, hooks


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """A registry of this test's own, so that the app's declarations are left alone."""
    monkeypatch.setattr(hooks, "_DECLARED", [])


@pytest.mark.usefixtures("registry")
def test_a_required_event_without_a_subscriber_fails_loudly() -> None:
    happened: hooks.Event[int] = hooks.Event("test.happened", required=True)
    with pytest.raises(hooks.WiringError, match=r"test\.happened"):
        hooks.check_wiring()
    with pytest.raises(hooks.WiringError, match=r"test\.happened"):
        happened.announce(1)
    seen: list[int] = []
    happened.subscribe(seen.append)
    happened.subscribe(seen.append)  # idempotent: every test builds an app
    hooks.check_wiring()
    happened.announce(2)
    assert seen == [2]


@pytest.mark.usefixtures("registry")
def test_a_hook_has_exactly_one_answer() -> None:
    question: hooks.Hook[int, int] = hooks.Hook("test.question")
    with pytest.raises(hooks.WiringError, match=r"test\.question"):
        question.ask(1)
    double = question.answer_with(lambda n: n * 2)
    question.answer_with(double)  # the same answer again is fine
    with pytest.raises(hooks.WiringError, match="already has an answer"):
        question.answer_with(lambda n: n * 3)
    assert question.ask(4) == 8


def test_the_app_wires_every_declared_event_and_hook(app) -> None:
    assert [name for name, wired in hooks.declared() if not wired] == []
    names = {name for name, _ in hooks.declared()}
    assert {"visits.assess_check_in", "escalation.alarm_resolved_as_incident"} <= names


def test_an_app_missing_a_subscriber_does_not_start(base_config) -> None:
    orphan: hooks.Event[int] = hooks.Event("test.orphan", required=True)
    try:
        with pytest.raises(hooks.WiringError, match=r"test\.orphan"):
            create_app(base_config)
    finally:
        hooks._DECLARED.remove(orphan)
