"""The escalation policy: who is texted, when, for each kind of alarm.

Pure: the policy is read from a TOML file and the schedule is computed from an ``origin`` and a
``now`` that the caller passes in. Nothing here reads the clock, the database or Flask, so the
sweep can decide a step inside its own transaction and tests can move time freely.

A ladder is an absolute schedule measured from its origin (the visit's due time for ``overdue``,
the moment the alarm was raised otherwise). Execution ``k`` (0-based) of a ladder with ``n`` steps
is step ``k`` for ``k < n``; after that, if the last step has ``repeat_every``, execution ``k`` is
repeat ``k - n + 1`` of the last step; otherwise the ladder is exhausted.
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any

from safetycheck.paths import DEFAULT_POLICY_PATH  # beside the code, not in the working directory

DEFAULT_REMINDER_BEFORE_SECONDS = 300
# Typo protection: a week is already far beyond any sensible escalation delay, and the cap keeps
# timedelta arithmetic well away from overflow.
MAX_SECONDS = 7 * 24 * 3600


class AlarmKind(StrEnum):
    OVERDUE = "overdue"
    PANIC = "panic"
    DURESS = "duress"
    # A serious incident report that no manager has acknowledged yet.
    INCIDENT = "incident"


class RecipientGroup(StrEnum):
    PRACTITIONER = "practitioner"
    TEAM_MANAGERS = "team_managers"
    ON_CALL = "on_call"


REQUIRED_KINDS = (AlarmKind.OVERDUE, AlarmKind.PANIC, AlarmKind.DURESS)
# Texting the phone of a worker who pressed panic or is under duress could give them away.
SILENT_TO_PRACTITIONER = frozenset({AlarmKind.PANIC, AlarmKind.DURESS, AlarmKind.INCIDENT})


class PolicyError(ValueError):
    """An escalation policy that must not be used; the message names the file and the key."""


# Builds the error for a key path and a problem; bound to the file name by parse_policy.
_Fail = Callable[[str, str], PolicyError]


@dataclass(frozen=True)
class Step:
    after: int
    notify: tuple[RecipientGroup, ...]
    repeat_every: int | None = None
    # Groups phoned as well as (or, with an empty notify, instead of) texted: a text can lie
    # unread on a phone on silent; a ringing phone wakes people (escalation/calls.py).
    call: tuple[RecipientGroup, ...] = ()


@dataclass(frozen=True)
class Ladder:
    kind: AlarmKind
    steps: tuple[Step, ...]

    def __post_init__(self) -> None:
        # parse_policy gives precise messages; this only guards hand-built ladders.
        if not self.steps:
            raise ValueError("a ladder needs at least one step")
        if any(b.after < a.after for a, b in zip(self.steps, self.steps[1:], strict=False)):
            raise ValueError("step times must not decrease")
        if any(s.repeat_every is not None for s in self.steps[:-1]):
            raise ValueError("only the last step may repeat")


@dataclass(frozen=True)
class Policy:
    ladders: Mapping[AlarmKind, Ladder]
    reminder_before_seconds: int = DEFAULT_REMINDER_BEFORE_SECONDS

    def __post_init__(self) -> None:
        object.__setattr__(self, "ladders", MappingProxyType(dict(self.ladders)))


@dataclass(frozen=True)
class Advance:
    """What the sweep must do now: the executions that fell due, merged into one."""

    executed: int  # executions done after this one (store it)
    step_index: int  # index in ladder.steps of the last execution taken
    notify: frozenset[RecipientGroup]
    next_due_at: datetime | None  # None: the ladder is exhausted
    caught_up: int  # executions covered: 1 when on time, more after an outage
    call: frozenset[RecipientGroup] = frozenset()  # groups to phone, merged like notify


# --- parsing -------------------------------------------------------------------------------


def load_policy(path: str | Path = DEFAULT_POLICY_PATH) -> Policy:
    """Read and validate a policy file, so that a bad file stops start-up with a clear message."""
    source = str(path)
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{source}: invalid TOML: {exc}") from exc
    except OSError as exc:
        raise PolicyError(f"{source}: cannot read: {exc.strerror or exc}") from exc
    return parse_policy(data, source)


def parse_policy(data: Mapping[str, Any], source: str) -> Policy:
    """Validate parsed TOML; every error names ``source`` and the exact key path."""

    def fail(path: str, problem: str) -> PolicyError:
        return PolicyError(f"{source}: {path}: {problem}")

    allowed = [*(k.value for k in AlarmKind), "reminder"]
    for key in data:
        if key not in allowed:
            raise fail(key, _unknown("table", key, allowed))
    ladders: dict[AlarmKind, Ladder] = {}
    for kind in AlarmKind:
        if kind.value not in data:
            if kind in REQUIRED_KINDS:
                raise fail(kind.value, "missing: this ladder is required")
            continue
        ladders[kind] = _parse_ladder(kind, data[kind.value], fail)
    reminder_before = DEFAULT_REMINDER_BEFORE_SECONDS
    if "reminder" in data:
        reminder = data["reminder"]
        if not isinstance(reminder, Mapping):
            raise fail("reminder", "must be a table")
        for key in reminder:
            if key != "before":
                raise fail(f"reminder.{key}", _unknown("key", key, ["before"]))
        if "before" in reminder:
            reminder_before = _seconds(reminder["before"], "reminder.before", fail, minimum=0)
    return Policy(ladders=ladders, reminder_before_seconds=reminder_before)


def _parse_ladder(kind: AlarmKind, table: Any, fail: _Fail) -> Ladder:
    if not isinstance(table, Mapping):
        raise fail(kind.value, "must be a table with a steps list")
    for key in table:
        if key != "steps":
            raise fail(f"{kind}.{key}", _unknown("key", key, ["steps"]))
    if "steps" not in table:
        raise fail(f"{kind}.steps", "missing: a ladder needs at least one step")
    raw_steps = table["steps"]
    if not isinstance(raw_steps, list) or not raw_steps:
        raise fail(f"{kind}.steps", "must be a non-empty list of steps")
    steps: list[Step] = []
    for i, raw in enumerate(raw_steps):
        path = f"{kind}.steps[{i}]"
        if not isinstance(raw, Mapping):
            raise fail(path, "must be a table like { after = 0, notify = [...] }")
        step_keys = ["after", "call", "notify", "repeat_every"]
        for key in raw:
            if key not in step_keys:
                raise fail(f"{path}.{key}", _unknown("key", key, step_keys))
        if "after" not in raw:
            raise fail(f"{path}.after", "missing: every step needs it")
        if "notify" not in raw and "call" not in raw:
            raise fail(f"{path}.notify", "missing: every step needs notify, call or both")
        after = _seconds(raw["after"], f"{path}.after", fail, minimum=0)
        if steps and after < steps[-1].after:
            raise fail(
                f"{path}.after",
                f"must not be earlier than the previous step ({steps[-1].after})",
            )
        notify = _parse_notify(kind, raw["notify"], f"{path}.notify", fail) if "notify" in raw else ()
        call = _parse_notify(kind, raw["call"], f"{path}.call", fail, verb="call") if "call" in raw else ()
        repeat_every = None
        if "repeat_every" in raw:
            if i != len(raw_steps) - 1:
                raise fail(f"{path}.repeat_every", "only allowed on the last step")
            repeat_every = _seconds(raw["repeat_every"], f"{path}.repeat_every", fail, minimum=1)
        steps.append(Step(after=after, notify=notify, repeat_every=repeat_every, call=call))
    return Ladder(kind=kind, steps=tuple(steps))


def _parse_notify(
    kind: AlarmKind, raw: Any, path: str, fail: _Fail, *, verb: str = "notify"
) -> tuple[RecipientGroup, ...]:
    if not isinstance(raw, list) or not raw:
        raise fail(path, "must be a non-empty list of recipient groups")
    known = [g.value for g in RecipientGroup]
    groups: list[RecipientGroup] = []
    for j, name in enumerate(raw):
        item = f"{path}[{j}]"
        if not isinstance(name, str):
            raise fail(item, "must be a recipient group name (a string)")
        if name not in known:
            raise fail(item, _unknown("recipient group", name, known))
        group = RecipientGroup(name)
        if group in groups:
            raise fail(item, f"duplicate recipient group {name!r}")
        if group is RecipientGroup.PRACTITIONER and kind in SILENT_TO_PRACTITIONER:
            raise fail(
                item,
                f"a {kind} ladder must not {verb} the practitioner: "
                f"a {'call' if verb == 'call' else 'text'} to the worker's phone could endanger them",
            )
        groups.append(group)
    return tuple(groups)


def _seconds(value: Any, path: str, fail: _Fail, *, minimum: int) -> int:
    # bool is a subclass of int in Python; `after = true` is a typo, not 1 second.
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        bound = "> 0" if minimum == 1 else f">= {minimum}"
        raise fail(path, f"must be a whole number of seconds {bound}")
    if value > MAX_SECONDS:
        raise fail(path, f"must be at most {MAX_SECONDS} seconds (7 days)")
    return value


def _unknown(what: str, name: str, expected: list[str]) -> str:
    message = f"unknown {what} {name!r}"
    close = difflib.get_close_matches(name, expected, n=1)
    if close:
        message += f"; did you mean {close[0]!r}?"
    return message + f" (expected one of: {', '.join(sorted(expected))})"


# --- scheduling ----------------------------------------------------------------------------


def execution_due_at(ladder: Ladder, k: int, origin: datetime) -> datetime | None:
    """Return when execution ``k`` falls due (in UTC), or None if the ladder stops before it."""
    if k < 0:
        raise ValueError("execution number must be >= 0")
    base = _utc(origin, "origin")
    n = len(ladder.steps)
    if k < n:
        return base + timedelta(seconds=ladder.steps[k].after)
    last = ladder.steps[-1]
    if last.repeat_every is None:
        return None
    return base + timedelta(seconds=last.after + (k - n + 1) * last.repeat_every)


def advance(ladder: Ladder, executed: int, origin: datetime, now: datetime) -> Advance | None:
    """Take every execution due by ``now`` at once; None if nothing is due yet or ever.

    After an outage nobody is skipped: the groups of all the executions that fell due are
    merged, and overdue repeats of the last step collapse into one text. The number of repeats
    is computed, not looped over, so a long outage costs the same as a short one.
    """
    if executed < 0:
        raise ValueError("executed must be >= 0")
    now_utc = _utc(now, "now")
    due = execution_due_at(ladder, executed, origin)
    if due is None or due > now_utc:
        return None
    base = _utc(origin, "origin")
    steps = ladder.steps
    n = len(steps)
    groups: set[RecipientGroup] = set()
    calls: set[RecipientGroup] = set()
    k = executed
    while k < n and base + timedelta(seconds=steps[k].after) <= now_utc:
        groups.update(steps[k].notify)
        calls.update(steps[k].call)
        k += 1
    last = steps[-1]
    if k >= n and last.repeat_every is not None:
        # Repeat r (1-based) of the last step is execution n - 1 + r, due at base + r * every.
        repeats_base = base + timedelta(seconds=last.after)
        last_due_repeat = (now_utc - repeats_base) // timedelta(seconds=last.repeat_every)
        next_repeat = k - n + 1
        if last_due_repeat >= next_repeat:
            groups.update(last.notify)
            calls.update(last.call)
            k = n - 1 + last_due_repeat + 1
    return Advance(
        executed=k,
        step_index=min(k - 1, n - 1),
        notify=frozenset(groups),
        call=frozenset(calls),
        next_due_at=execution_due_at(ladder, k, origin),
        caught_up=k - executed,
    )


def _utc(moment: datetime, name: str) -> datetime:
    # Aware arithmetic within one zone is wall-clock arithmetic (a DST change would stretch or
    # shrink the delay), so every computation happens in UTC.
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")
    return moment.astimezone(UTC)
