import copy
import tomllib
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from safetycheck.escalation.policy import (
    DEFAULT_POLICY_PATH,
    Advance,
    AlarmKind,
    Ladder,
    PolicyError,
    RecipientGroup,
    Step,
    advance,
    execution_due_at,
    load_policy,
    parse_policy,
)

PRACTITIONER = RecipientGroup.PRACTITIONER
MANAGERS = RecipientGroup.TEAM_MANAGERS
ON_CALL = RecipientGroup.ON_CALL

CONTRACT_EXAMPLE = """
[overdue]
steps = [
  { after = 0,    notify = ["practitioner"] },
  { after = 600,  notify = ["team_managers"] },
  { after = 1200, notify = ["team_managers", "on_call"], repeat_every = 600 },
]
[panic]
steps = [ { after = 0, notify = ["team_managers", "on_call"], repeat_every = 300 } ]
[duress]
steps = [ { after = 0, notify = ["team_managers", "on_call"], repeat_every = 300 } ]
"""

ORIGIN = datetime(2025, 3, 10, 14, 0, tzinfo=UTC)
OVERDUE = Ladder(
    AlarmKind.OVERDUE,
    (
        Step(0, (PRACTITIONER,)),
        Step(600, (MANAGERS,)),
        Step(1200, (MANAGERS, ON_CALL), repeat_every=600),
    ),
)


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def valid() -> dict:
    return tomllib.loads(CONTRACT_EXAMPLE)


# --- parsing -------------------------------------------------------------------------------


def test_default_file_parses_with_the_documented_timings():
    policy = load_policy()

    assert DEFAULT_POLICY_PATH.is_file()
    assert set(policy.ladders) == set(AlarmKind)
    assert policy.reminder_before_seconds == 300
    overdue = policy.ladders[AlarmKind.OVERDUE]
    assert [s.after for s in overdue.steps] == [0, 600, 1200]
    assert overdue.steps[0].notify == (PRACTITIONER,)
    assert overdue.steps[-1] == Step(1200, (MANAGERS, ON_CALL), repeat_every=600)
    for kind in (AlarmKind.PANIC, AlarmKind.DURESS):
        assert policy.ladders[kind].steps == (Step(0, (MANAGERS, ON_CALL), repeat_every=300),)
    assert policy.ladders[AlarmKind.INCIDENT].steps == (Step(300, (MANAGERS, ON_CALL), repeat_every=600),)


def test_contract_example_parses_without_incident_and_with_default_reminder():
    policy = parse_policy(valid(), "example.toml")

    assert AlarmKind.INCIDENT not in policy.ladders
    assert set(policy.ladders) == {AlarmKind.OVERDUE, AlarmKind.PANIC, AlarmKind.DURESS}
    assert policy.reminder_before_seconds == 300
    assert policy.ladders[AlarmKind.PANIC].kind is AlarmKind.PANIC


def test_reminder_can_be_disabled_and_steps_may_share_a_time():
    data = valid()
    data["reminder"] = {"before": 0}
    data["overdue"]["steps"][1]["after"] = 0

    policy = parse_policy(data, "x.toml")

    assert policy.reminder_before_seconds == 0
    assert [s.after for s in policy.ladders[AlarmKind.OVERDUE].steps] == [0, 0, 1200]


def test_policy_is_read_only():
    policy = parse_policy(valid(), "x.toml")
    with pytest.raises(TypeError):
        policy.ladders[AlarmKind.INCIDENT] = policy.ladders[AlarmKind.PANIC]  # type: ignore[index]


def _set(data: dict, path: tuple, value: object) -> dict:
    data = copy.deepcopy(data)
    target = data
    for key in path[:-1]:
        target = target[key]
    if value is DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return data


DELETE = object()
PANIC_STEP = ("panic", "steps", 0)
BAD_INPUTS = [
    # (where, value, key path in the message, words in the message)
    (("overdue", "steps", 1, "after"), -1, "overdue.steps[1].after", ">= 0"),
    (("overdue", "steps", 1, "after"), 600.0, "overdue.steps[1].after", "whole number"),
    (("overdue", "steps", 1, "after"), True, "overdue.steps[1].after", "whole number"),
    (("overdue", "steps", 1, "after"), "600", "overdue.steps[1].after", "whole number"),
    (("overdue", "steps", 1, "after"), 10**9, "overdue.steps[1].after", "at most"),
    (("overdue", "steps", 2, "after"), 500, "overdue.steps[2].after", "earlier than"),
    (("overdue", "steps", 0, "after"), DELETE, "overdue.steps[0].after", "missing"),
    (("overdue", "steps", 0, "notify"), DELETE, "overdue.steps[0].notify", "missing"),
    (("overdue", "steps", 0, "notify"), [], "overdue.steps[0].notify", "non-empty"),
    (("overdue", "steps", 0, "notify"), "on_call", "overdue.steps[0].notify", "list"),
    (
        ("overdue", "steps", 1, "notify"),
        ["team_managers", "oncall"],
        "overdue.steps[1].notify[1]",
        "did you mean 'on_call'",
    ),
    (("overdue", "steps", 1, "notify"), [1], "overdue.steps[1].notify[0]", "string"),
    (
        ("overdue", "steps", 2, "notify"),
        ["on_call", "team_managers", "on_call"],
        "overdue.steps[2].notify[2]",
        "duplicate",
    ),
    (("overdue", "steps", 2, "repeat_evry"), 600, "overdue.steps[2].repeat_evry", "repeat_every"),
    (("overdue", "steps", 0, "repeat_every"), 60, "overdue.steps[0].repeat_every", "last step"),
    (("overdue", "steps", 2, "repeat_every"), 0, "overdue.steps[2].repeat_every", "> 0"),
    (("overdue", "steps", 2, "repeat_every"), False, "overdue.steps[2].repeat_every", "whole"),
    (("overdue", "steps", 2, "repeat_every"), 1.5, "overdue.steps[2].repeat_every", "whole"),
    (("overdue", "steps", 1), "600", "overdue.steps[1]", "table"),
    (("overdue", "steps"), [], "overdue.steps", "non-empty"),
    (("overdue", "steps"), {"after": 0}, "overdue.steps", "list"),
    (("overdue", "steps"), DELETE, "overdue.steps", "missing"),
    (("overdue", "step"), [], "overdue.step", "did you mean 'steps'"),
    (("overdue",), [1], "overdue", "table"),
    (("panic",), DELETE, "panic", "required"),
    (("duress",), DELETE, "duress", "required"),
    (("overdue",), DELETE, "overdue", "required"),
    (("panik",), {}, "panik", "did you mean 'panic'"),
    (("escalation",), {}, "escalation", "unknown table"),
    (("reminder",), 300, "reminder", "table"),
    (("reminder",), {"before": -5}, "reminder.before", ">= 0"),
    (("reminder",), {"befor": 60}, "reminder.befor", "did you mean 'before'"),
    ((*PANIC_STEP, "notify"), ["practitioner"], "panic.steps[0].notify[0]", "endanger"),
    ((*PANIC_STEP, "notify"), ["on_call", "practitioner"], "panic.steps[0].notify[1]", "endanger"),
    (("duress", "steps", 0, "notify"), ["practitioner"], "duress.steps[0].notify[0]", "endanger"),
    (
        ("incident",),
        {"steps": [{"after": 0, "notify": ["practitioner"]}]},
        "incident.steps[0].notify[0]",
        "endanger",
    ),
    (("incident",), {"steps": [{"after": 0}]}, "incident.steps[0].notify", "missing"),
]


@pytest.mark.parametrize(("where", "value", "key_path", "words"), BAD_INPUTS)
def test_bad_policy_names_file_and_key_path(where, value, key_path, words):
    data = _set(valid(), where, value)

    with pytest.raises(PolicyError) as raised:
        parse_policy(data, "config/escalation.toml")

    message = str(raised.value)
    assert message.startswith(f"config/escalation.toml: {key_path}: "), message
    assert words in message


def test_message_matches_the_documented_form():
    data = _set(valid(), ("overdue", "steps", 1, "after"), -600)
    with pytest.raises(
        PolicyError,
        match=r"^config/escalation\.toml: overdue\.steps\[1\]\.after: "
        r"must be a whole number of seconds >= 0$",
    ):
        parse_policy(data, "config/escalation.toml")


def test_policy_error_is_a_value_error():
    assert issubclass(PolicyError, ValueError)


def test_invalid_toml_reports_the_parser_message(tmp_path: Path):
    path = tmp_path / "escalation.toml"
    path.write_text("[overdue\nsteps = []\n", encoding="utf-8")

    with pytest.raises(PolicyError, match=r"escalation\.toml: invalid TOML: .*line 1"):
        load_policy(path)


def test_missing_file_is_a_policy_error(tmp_path: Path):
    with pytest.raises(PolicyError, match=r"nope\.toml: cannot read"):
        load_policy(tmp_path / "nope.toml")


def test_load_policy_accepts_a_path_string(tmp_path: Path):
    path = tmp_path / "p.toml"
    path.write_text(CONTRACT_EXAMPLE + "[reminder]\nbefore = 120\n", encoding="utf-8")

    assert load_policy(str(path)).reminder_before_seconds == 120


def test_hand_built_ladders_are_checked():
    with pytest.raises(ValueError, match="at least one step"):
        Ladder(AlarmKind.PANIC, ())
    with pytest.raises(ValueError, match="decrease"):
        Ladder(AlarmKind.PANIC, (Step(60, (ON_CALL,)), Step(0, (ON_CALL,))))
    with pytest.raises(ValueError, match="last step"):
        Ladder(AlarmKind.PANIC, (Step(0, (ON_CALL,), 60), Step(60, (ON_CALL,))))


# --- scheduling ----------------------------------------------------------------------------


def test_execution_due_at_follows_steps_then_repeats():
    due = [execution_due_at(OVERDUE, k, ORIGIN) for k in range(6)]

    assert due == [ORIGIN + minutes(m) for m in (0, 10, 20, 30, 40, 50)]


def test_execution_due_at_is_none_after_a_ladder_without_repeat():
    ladder = Ladder(AlarmKind.OVERDUE, (Step(0, (PRACTITIONER,)), Step(600, (MANAGERS,))))

    assert execution_due_at(ladder, 1, ORIGIN) == ORIGIN + minutes(10)
    assert execution_due_at(ladder, 2, ORIGIN) is None
    with pytest.raises(ValueError, match=">= 0"):
        execution_due_at(ladder, -1, ORIGIN)


def test_nothing_is_due_just_before_the_due_time():
    assert advance(OVERDUE, 0, ORIGIN, ORIGIN - timedelta(microseconds=1)) is None
    assert advance(OVERDUE, 1, ORIGIN, ORIGIN + minutes(10) - timedelta(seconds=1)) is None


def test_first_step_is_taken_exactly_at_the_due_time():
    assert advance(OVERDUE, 0, ORIGIN, ORIGIN) == Advance(
        executed=1,
        step_index=0,
        notify=frozenset({PRACTITIONER}),
        next_due_at=ORIGIN + minutes(10),
        caught_up=1,
    )


def test_steps_in_order_then_repeats_of_the_last_step():
    taken = []
    executed = 0
    for m in range(0, 61, 5):
        result = advance(OVERDUE, executed, ORIGIN, ORIGIN + minutes(m))
        if result is not None:
            assert result.caught_up == 1
            taken.append((m, result.step_index, result.notify))
            executed = result.executed

    assert taken == [
        (0, 0, {PRACTITIONER}),
        (10, 1, {MANAGERS}),
        (20, 2, {MANAGERS, ON_CALL}),
        (30, 2, {MANAGERS, ON_CALL}),
        (40, 2, {MANAGERS, ON_CALL}),
        (50, 2, {MANAGERS, ON_CALL}),
        (60, 2, {MANAGERS, ON_CALL}),
    ]
    assert executed == 7


def test_a_repeat_is_not_due_again_until_its_interval_passes():
    first = advance(OVERDUE, 3, ORIGIN, ORIGIN + minutes(30))
    assert first is not None
    assert first.executed == 4
    assert first.next_due_at == ORIGIN + minutes(40)

    assert advance(OVERDUE, 4, ORIGIN, ORIGIN + minutes(39)) is None


def test_ladder_without_repeat_is_exhausted_after_its_last_step():
    ladder = Ladder(AlarmKind.OVERDUE, (Step(0, (PRACTITIONER,)), Step(600, (MANAGERS,))))

    last = advance(ladder, 1, ORIGIN, ORIGIN + minutes(10))
    assert last == Advance(2, 1, frozenset({MANAGERS}), None, 1)
    assert advance(ladder, 2, ORIGIN, ORIGIN + timedelta(days=3)) is None


def test_catch_up_after_a_two_hour_outage_merges_everything_once():
    # The sweep last ran just before the visit was due, then the service was down for 2 hours.
    now = ORIGIN + timedelta(hours=2)

    result = advance(OVERDUE, 0, ORIGIN, now)

    # Steps 0, 1, 2 and the repeats at 30, 40, ..., 120 minutes (10 of them) all fell due.
    assert result == Advance(
        executed=13,
        step_index=2,
        notify=frozenset({PRACTITIONER, MANAGERS, ON_CALL}),
        next_due_at=ORIGIN + minutes(130),
        caught_up=13,
    )
    assert execution_due_at(OVERDUE, 13, ORIGIN) == result.next_due_at
    assert advance(OVERDUE, 13, ORIGIN, now + minutes(9)) is None


def test_catch_up_from_the_middle_of_the_ladder():
    result = advance(OVERDUE, 1, ORIGIN, ORIGIN + minutes(25))

    assert result == Advance(3, 2, frozenset({MANAGERS, ON_CALL}), ORIGIN + minutes(30), 2)


def test_catch_up_of_repeats_only_collapses_into_one():
    result = advance(OVERDUE, 4, ORIGIN, ORIGIN + minutes(75))

    # Execution 4 was due at 40 minutes; 50, 60 and 70 followed.
    assert result == Advance(8, 2, frozenset({MANAGERS, ON_CALL}), ORIGIN + minutes(80), 4)


def test_catch_up_stops_at_steps_not_yet_due():
    ladder = Ladder(
        AlarmKind.OVERDUE,
        (Step(0, (PRACTITIONER,)), Step(60, (PRACTITIONER,)), Step(3600, (MANAGERS,))),
    )

    result = advance(ladder, 0, ORIGIN, ORIGIN + minutes(30))

    assert result == Advance(2, 1, frozenset({PRACTITIONER}), ORIGIN + minutes(60), 2)


def test_long_outage_with_a_tiny_interval_is_computed_not_looped():
    ladder = Ladder(AlarmKind.PANIC, (Step(0, (ON_CALL,), repeat_every=1),))
    now = ORIGIN + timedelta(days=365 * 50)

    result = advance(ladder, 0, ORIGIN, now)

    seconds = int((now - ORIGIN).total_seconds())
    assert result is not None
    assert result.executed == seconds + 1
    assert result.caught_up == seconds + 1
    assert result.next_due_at == now + timedelta(seconds=1)


def test_sub_second_times_round_the_right_way():
    ladder = Ladder(AlarmKind.PANIC, (Step(0, (ON_CALL,), repeat_every=300),))

    assert advance(ladder, 1, ORIGIN, ORIGIN + timedelta(seconds=300, microseconds=-1)) is None
    result = advance(ladder, 1, ORIGIN, ORIGIN + timedelta(seconds=300))
    assert result is not None
    assert result.executed == 2


def test_naive_datetimes_are_refused():
    naive = datetime(2025, 3, 10, 14, 0)  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValueError, match="origin must be a timezone-aware"):
        execution_due_at(OVERDUE, 0, naive)
    with pytest.raises(ValueError, match="origin must be a timezone-aware"):
        advance(OVERDUE, 0, naive, ORIGIN)
    with pytest.raises(ValueError, match="now must be a timezone-aware"):
        advance(OVERDUE, 0, ORIGIN, naive)


def test_negative_executed_is_refused():
    with pytest.raises(ValueError, match="executed"):
        advance(OVERDUE, -1, ORIGIN, ORIGIN)


def test_delays_are_elapsed_time_across_a_dst_change():
    london = ZoneInfo("Europe/London")
    # Clocks went forward at 01:00 GMT on 30 March 2025: 00:50 GMT + 20 minutes is 02:10 BST.
    origin = datetime(2025, 3, 30, 0, 50, tzinfo=london)

    third = execution_due_at(OVERDUE, 2, origin)

    assert third == datetime(2025, 3, 30, 1, 10, tzinfo=UTC)
    assert third == datetime(2025, 3, 30, 2, 10, tzinfo=london)
    assert advance(OVERDUE, 2, origin, datetime(2025, 3, 30, 2, 9, tzinfo=london)) is None
    result = advance(OVERDUE, 2, origin, datetime(2025, 3, 30, 2, 10, tzinfo=london))
    assert result is not None
    assert result.executed == 3
    assert result.next_due_at == datetime(2025, 3, 30, 1, 20, tzinfo=UTC)


def test_origin_and_now_may_be_in_different_zones():
    origin = datetime(2025, 7, 1, 15, 0, tzinfo=timezone(timedelta(hours=1)))
    now = datetime(2025, 7, 1, 14, 10, tzinfo=UTC)

    result = advance(OVERDUE, 0, origin, now)

    assert result is not None
    assert result.executed == 2
    assert result.next_due_at is not None
    assert result.next_due_at.utcoffset() == timedelta(0)
    assert result.next_due_at == datetime(2025, 7, 1, 14, 20, tzinfo=UTC)
