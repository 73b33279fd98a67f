"""The escalation policy in force, in words: each kind's steps with human durations."""

from __future__ import annotations

from dataclasses import dataclass

from safetycheck.escalation.policy import AlarmKind, Ladder, Policy, RecipientGroup
from safetycheck.web.filters import human_duration

KIND_TITLES = {
    AlarmKind.OVERDUE: "Overdue visit",
    AlarmKind.PANIC: "Panic",
    AlarmKind.DURESS: "Duress PIN",
    AlarmKind.INCIDENT: "Serious incident not yet acknowledged",
}
KIND_ORIGINS = {
    AlarmKind.OVERDUE: "the visit's due time",
    AlarmKind.PANIC: "the panic",
    AlarmKind.DURESS: "the duress check-out",
    AlarmKind.INCIDENT: "the report",
}
GROUP_NAMES = {
    RecipientGroup.PRACTITIONER: "the practitioner",
    RecipientGroup.TEAM_MANAGERS: "team managers",
    RecipientGroup.ON_CALL: "on-call contacts",
}


@dataclass(frozen=True)
class StepRow:
    number: int
    when: str  # "After 10 min" or "At once"
    who: str  # "team managers and on-call contacts"
    repeats: str  # "Every 10 min until someone takes charge" or ""

    @property
    def sentence(self) -> str:
        """The step in one line: after 10 min: team managers, repeats every 10 min."""
        text = f"{self.when.lower()}: {self.who}"
        return f"{text}, repeats every {self.repeats}" if self.repeats else text


@dataclass(frozen=True)
class LadderView:
    kind: str
    title: str
    counted_from: str
    steps: list[StepRow]


def describe(policy: Policy) -> list[LadderView]:
    order = [AlarmKind.OVERDUE, AlarmKind.PANIC, AlarmKind.DURESS, AlarmKind.INCIDENT]
    return [_ladder(policy.ladders[kind]) for kind in order if kind in policy.ladders]


def _ladder(ladder: Ladder) -> LadderView:
    rows = []
    for number, step in enumerate(ladder.steps, start=1):
        if step.after:
            when = f"After {human_duration(step.after)}"
        else:
            when = "At the due time" if ladder.kind == AlarmKind.OVERDUE else "At once"
        who = _join([GROUP_NAMES[group] for group in step.notify])
        repeats = human_duration(step.repeat_every) if step.repeat_every else ""
        rows.append(StepRow(number=number, when=when, who=who, repeats=repeats))
    return LadderView(
        kind=ladder.kind.value,
        title=KIND_TITLES.get(ladder.kind, ladder.kind.value),
        counted_from=KIND_ORIGINS.get(ladder.kind, "the alarm"),
        steps=rows,
    )


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def reminder_text(policy: Policy) -> str:
    if not policy.reminder_before_seconds:
        return "No reminder is sent before the due time."
    before = human_duration(policy.reminder_before_seconds)
    return f"The practitioner is texted a reminder {before} before the due time."
