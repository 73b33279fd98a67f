"""The policy's `call` key: parsed strictly, merged like `notify`, silent to a worker under threat."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime, timedelta

import pytest

from safetycheck.escalation.policy import AlarmKind, PolicyError, RecipientGroup, advance, parse_policy
from safetycheck.paths import DEMO_POLICY_PATH

BASE = """
[overdue]
steps = [
  { after = 0,   notify = ["practitioner"] },
  { after = 900, notify = ["team_managers"], call = ["on_call"] },
  { after = 1200, call = ["team_managers", "on_call"], repeat_every = 600 },
]
[panic]
steps = [ { after = 0, notify = ["team_managers"] } ]
[duress]
steps = [ { after = 0, notify = ["team_managers"] } ]
"""
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def parse(text: str = BASE):
    return parse_policy(tomllib.loads(text), "policy.toml")


def test_a_step_may_call_as_well_as_or_instead_of_notify() -> None:
    ladder = parse().ladders[AlarmKind.OVERDUE]
    assert ladder.steps[0].call == ()
    assert ladder.steps[1].notify == (RecipientGroup.TEAM_MANAGERS,)
    assert ladder.steps[1].call == (RecipientGroup.ON_CALL,)
    assert ladder.steps[2].notify == ()
    assert ladder.steps[2].call == (RecipientGroup.TEAM_MANAGERS, RecipientGroup.ON_CALL)


def test_calls_of_missed_steps_are_merged_after_an_outage() -> None:
    ladder = parse().ladders[AlarmKind.OVERDUE]
    step = advance(ladder, 0, T0, T0 + timedelta(hours=1))
    assert step is not None
    assert step.call == {RecipientGroup.ON_CALL, RecipientGroup.TEAM_MANAGERS}
    assert step.notify == {RecipientGroup.PRACTITIONER, RecipientGroup.TEAM_MANAGERS}
    on_time = advance(ladder, 0, T0, T0)
    assert on_time is not None
    assert on_time.call == frozenset()


@pytest.mark.parametrize(
    ("step", "key_path", "words"),
    [
        ("{ after = 0, call = [] }", "panic.steps[0].call", "non-empty"),
        ('{ after = 0, call = "on_call" }', "panic.steps[0].call", "list"),
        ('{ after = 0, call = ["on_cal"] }', "panic.steps[0].call[0]", "did you mean 'on_call'"),
        ('{ after = 0, call = ["on_call", "on_call"] }', "panic.steps[0].call[1]", "duplicate"),
        (
            '{ after = 0, call = ["practitioner"] }',
            "panic.steps[0].call[0]",
            "must not call the practitioner",
        ),
        ("{ after = 0 }", "panic.steps[0].notify", "notify, call or both"),
        ('{ after = 0, calls = ["on_call"] }', "panic.steps[0].calls", "did you mean 'call'"),
    ],
)
def test_bad_call_keys_name_the_key(step: str, key_path: str, words: str) -> None:
    text = BASE.replace(
        '[panic]\nsteps = [ { after = 0, notify = ["team_managers"] } ]', f"[panic]\nsteps = [ {step} ]"
    )
    with pytest.raises(PolicyError) as error:
        parse(text)
    assert f"policy.toml: {key_path}: " in str(error.value)
    assert words in str(error.value)


def test_an_overdue_ladder_may_call_the_worker() -> None:
    text = BASE.replace(
        '{ after = 0,   notify = ["practitioner"] }', '{ after = 0, call = ["practitioner"] }'
    )
    assert parse(text).ladders[AlarmKind.OVERDUE].steps[0].call == (RecipientGroup.PRACTITIONER,)


def test_the_demo_policy_has_a_call_step() -> None:
    with open(DEMO_POLICY_PATH, "rb") as f:
        rules = parse_policy(tomllib.load(f), str(DEMO_POLICY_PATH))
    assert any(step.call for step in rules.ladders[AlarmKind.OVERDUE].steps)
