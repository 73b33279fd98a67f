"""The words of every text. Short, plain, no case details: SMS is not a secure channel.

Escalation texts to managers name who, where, since when and the last known location, and end
with `Reply ACK <code> to take charge` (the contract). Texts to the worker never ask for ACK.
"""

from __future__ import annotations

from datetime import datetime, tzinfo

from safetycheck.escalation.enums import AlarmKind

ACK_SUFFIX = "Reply ACK {code} to take charge"


def local_time(moment: datetime, tz: tzinfo) -> str:
    """`14:05 GMT`: managers read local time, with the zone to avoid doubt around clock changes."""
    local = moment.astimezone(tz)
    return local.strftime("%H:%M %Z")


def maps_link(lat: float, lon: float) -> str:
    return f"https://maps.google.com/?q={lat:.5f},{lon:.5f}"


def location_phrase(lat: float | None, lon: float | None, at: datetime | None, tz: tzinfo) -> str:
    if lat is None or lon is None:
        return "Last location: not shared."
    when = f" ({local_time(at, tz)})" if at else ""
    return f"Last location{when}: {maps_link(lat, lon)}"


def escalation(
    *,
    kind: AlarmKind,
    code: str,
    practitioner_name: str,
    practitioner_phone: str,
    address: str | None,
    due_at: datetime | None,
    raised_at: datetime,
    location: str,
    message: str | None,
    repeat: int,
    tz: tzinfo,
) -> str:
    """A ladder step's text to a manager or on-call contact."""
    where = f"at {address}" if address else "(no visit in progress)"
    again = f" (reminder {repeat})" if repeat > 0 else ""
    if kind == AlarmKind.OVERDUE:
        due = local_time(due_at or raised_at, tz)
        head = (
            f"SAFETYCHECK OVERDUE{again}: {practitioner_name} ({practitioner_phone}) has not checked out "
            f"{where}. Due {due}."
        )
    elif kind == AlarmKind.PANIC:
        note = f' Message: "{message[:60]}".' if message else ""
        head = (
            f"SAFETYCHECK PANIC{again}: {practitioner_name} ({practitioner_phone}) raised a panic alarm "
            f"{where} at {local_time(raised_at, tz)}.{note}"
        )
    elif kind == AlarmKind.DURESS:
        head = (
            f"SAFETYCHECK DURESS{again}: {practitioner_name} ({practitioner_phone}) used the duress PIN "
            f"{where} at {local_time(raised_at, tz)}. They may be under threat: do not reveal the alarm "
            "to anyone who answers their phone."
        )
    else:
        # Where, but never what happened: the description stays off SMS, not a secure channel.
        where = f"at {address}" if address else "(address not given)"
        head = (
            f"SAFETYCHECK INCIDENT{again}: a serious incident {where} reported by {practitioner_name} "
            f"({practitioner_phone}) at {local_time(raised_at, tz)} has not been acknowledged."
        )
    return f"{head} {location} {ACK_SUFFIX.format(code=code)}"


def overdue_to_practitioner(
    *,
    address: str,
    due_at: datetime,
    managers_at: datetime | None,
    tz: tzinfo,
    managers_alerted: bool = False,
) -> str:
    then = f" Your managers are alerted at {local_time(managers_at, tz)}." if managers_at else ""
    if managers_alerted:
        then = " Your managers have been alerted."
    return (
        f"SafetyCheck: your visit at {_short(address)} was due to end at {local_time(due_at, tz)}.{then} "
        "Reply OK if you are safe and have left, or EXT 30 to extend by 30 minutes."
    )


def reminder(*, address: str, due_at: datetime, tz: tzinfo) -> str:
    return (
        f"SafetyCheck: your visit at {_short(address)} is due to end at {local_time(due_at, tz)}. "
        "Reply OK when you leave, or EXT 15 to extend by 15 minutes."
    )


_VIA = {"sms": "by text", "api": "in the app", "web": "on the board", "incident": "on the incident"}


def taken_charge(*, code: str, practitioner_name: str, by_name: str, via: str) -> str:
    return (
        f"SafetyCheck: {by_name} has taken charge of alert {code} for {practitioner_name} "
        f"({_VIA.get(via, via)}). No action needed from you."
    )


def stand_down(*, code: str, practitioner_name: str, reason: str) -> str:
    return f"SafetyCheck STAND DOWN: alert {code} for {practitioner_name}: {reason} No further action needed."


def _short(address: str, limit: int = 60) -> str:
    return address if len(address) <= limit else address[: limit - 1] + "…"
