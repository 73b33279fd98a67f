"""The words of every text the service sends, escalation and incidents alike, in one place.

Short, plain, no case details: SMS is not a secure channel. Escalation texts to managers name
who, where, since when and the last known location, and end with `Reply ACK <code> to take
charge` (the contract). Texts to the worker never ask for ACK. Incident texts name the reporter,
the category in plain words, when and where, and say where to act; never the description,
injuries or case details. Every function takes plain values (the callers read their models), and
times are shown in the service's zone (`localtime`), as the pages show them.
"""

from __future__ import annotations

from datetime import datetime, tzinfo

from safetycheck.localtime import local_zone

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
    kind: str,  # an AlarmKind value
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
    if kind == "overdue":
        due = local_time(due_at or raised_at, tz)
        head = (
            f"SAFETYCHECK OVERDUE{again}: {practitioner_name} ({practitioner_phone}) has not checked out "
            f"{where}. Due {due}."
        )
    elif kind == "panic":
        note = f' Message: "{message[:60]}".' if message else ""
        head = (
            f"SAFETYCHECK PANIC{again}: {practitioner_name} ({practitioner_phone}) raised a panic alarm "
            f"{where} at {local_time(raised_at, tz)}.{note}"
        )
    elif kind == "duress":
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


# Incidents ------------------------------------------------------------------------------------

ACT_IN_APP = "in SafetyCheck (app or web)"

STEP_WORDS = {
    "draft": "is a draft waiting for you to confirm it",
    "reported": "is waiting to be acknowledged",
    "acknowledged": "is waiting for triage",
    "triaged": "is waiting for its investigation to start",
    "under_investigation": "is waiting for its investigation to finish",
    "actions_open": "has actions waiting",
    "hs_review": "is waiting for health-and-safety review",
    "information_required": "has a question waiting for your answer",
}

SUPPORT_WORDS = {
    "welfare_check": "welfare check",
    "follow_up_2w": "two-week follow-up",
    "follow_up_6w": "six-week follow-up",
}


def when(moment: datetime) -> str:
    """ "14:05 GMT Mon 2 Mar": managers read local time, with the zone around clock changes."""
    local = moment.astimezone(local_zone())
    return f"{local:%H:%M %Z} {local:%a} {local.day} {local:%b}"


def short_place(text: str | None, limit: int = 60) -> str:
    if not text:
        return "address not given"
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def incident_reported(
    *,
    incident_id: int,
    reporter_name: str,
    what: str,
    occurred_at: datetime,
    where: str | None,
    serious: bool,
) -> str:
    head = "SafetyCheck SERIOUS INCIDENT" if serious else "SafetyCheck incident"
    return (
        f"{head}: {reporter_name} reported {what} at {when(occurred_at)}, "
        f"{short_place(where)}. Please contact them and acknowledge incident {incident_id} "
        f"{ACT_IN_APP}."
    )


def incident_step_overdue(
    *, incident_id: int, what: str, reporter_name: str, status: str, due_at: datetime
) -> str:
    return (
        f"SafetyCheck reminder: incident {incident_id} ({what} reported by "
        f"{reporter_name}) {STEP_WORDS.get(status, 'is waiting')}; the target was "
        f"{when(due_at)}. Please act on it {ACT_IN_APP}."
    )


def incident_action_overdue(*, action_id: int, incident_id: int, due_at: datetime) -> str:
    return (
        f"SafetyCheck reminder: your action {action_id} on incident {incident_id} was due at "
        f"{when(due_at)}. Please complete or update it {ACT_IN_APP}."
    )


def incident_support_overdue(*, item: str, reporter_name: str, incident_id: int, due_at: datetime) -> str:
    return (
        f"SafetyCheck reminder: the {SUPPORT_WORDS[item]} for {reporter_name} after incident "
        f"{incident_id} was due at {when(due_at)}. Please contact them and record it {ACT_IN_APP}."
    )


def incident_question(*, incident_id: int) -> str:
    return (
        f"SafetyCheck: there is a question about your incident report {incident_id}. "
        f"Please answer it {ACT_IN_APP}."
    )


def incident_feedback(*, incident_id: int) -> str:
    return f"SafetyCheck: there is feedback on your incident report {incident_id}. Read it {ACT_IN_APP}."


def marker_review_due(*, marker_id: int, postcode: str | None, review_at: datetime) -> str:
    where = postcode or "no postcode"
    return (
        f"SafetyCheck: household marker {marker_id} ({where}) is due for review by "
        f"{when(review_at)}. Renew it with a new incident, or it expires then. Review it {ACT_IN_APP}."
    )


# --- escalation calls (read out by Twilio's <Say>; escalation/calls.py) ---------------------------
# What a call says holds no more than an escalation text: who, their phone, where, since when, the
# last location. Spoken, so the code is spelt out and the map link becomes coordinates.

CALL_PRESS_ONE = "Press 1 to take charge of this alert."


def _spoken_phone(phone: str) -> str:
    return " ".join(ch for ch in phone if ch.isdigit() or ch == "+").replace("+", "plus")


def call_script(
    *,
    kind: str,  # an AlarmKind value
    code: str,
    practitioner_name: str,
    practitioner_phone: str,
    address: str | None,
    due_at: datetime | None,
    raised_at: datetime,
    lat: float | None,
    lon: float | None,
    located_at: datetime | None,
    tz: tzinfo,
) -> str:
    """What an escalation call reads out before asking for the keypress."""
    where = f"at {_short(address, 120)}" if address else "with no visit in progress"
    if kind == "overdue":
        head = (
            f"SafetyCheck overdue alert. {practitioner_name} has not checked out {where}. "
            f"The visit was due to end at {local_time(due_at or raised_at, tz)}."
        )
    elif kind == "panic":
        head = (
            f"SafetyCheck panic alarm. {practitioner_name} raised a panic alarm {where} "
            f"at {local_time(raised_at, tz)}."
        )
    elif kind == "duress":
        head = (
            f"SafetyCheck duress alarm. {practitioner_name} used the duress PIN {where} at "
            f"{local_time(raised_at, tz)}. They may be under threat: do not reveal the alarm to anyone "
            "who answers their phone."
        )
    else:
        place = f"at {_short(address, 120)}" if address else "at an address not given"
        head = (
            f"SafetyCheck incident alert. A serious incident {place}, reported by {practitioner_name} "
            f"at {local_time(raised_at, tz)}, has not been acknowledged."
        )
    if lat is None or lon is None:
        location = "Their last location was not shared."
    else:
        when = f" at {local_time(located_at, tz)}" if located_at else ""
        location = (
            f"Last location{when}: latitude {lat:.4f}, longitude {lon:.4f}; the map link is in your text."
        )
    spelt = " ".join(code)
    return f"{head} Their phone: {_spoken_phone(practitioner_phone)}. {location} Alert code {spelt}."


def call_voicemail() -> str:
    """Left on an answering machine: no detail, nobody else should hear it."""
    return "This is SafetyCheck with an urgent alert for you. Please read your texts now."


def call_taken_charge(*, practitioner_name: str, practitioner_phone: str) -> str:
    return (
        f"Thank you. You have taken charge of the alert for {practitioner_name}. "
        f"Their phone: {_spoken_phone(practitioner_phone)}. Resolve it on the board when it is over. Goodbye."
    )


def call_already_taken(*, by_name: str, at: datetime, tz: tzinfo) -> str:
    return f"{by_name} took charge of this alert at {local_time(at, tz)}. No action needed from you. Goodbye."


def call_alarm_over() -> str:
    return "This SafetyCheck alert is over. No action needed from you. Goodbye."


def call_wrong_key() -> str:
    return "That was not 1. The alert is still open."


def call_practitioner_script(*, address: str | None, due_at: datetime, tz: tzinfo) -> str:
    """A call to the overdue worker themself: the reminder, spoken; nothing for others to hear."""
    where = f" at {_short(address)}" if address else ""
    return f"SafetyCheck. Your visit{where} was due to end at {local_time(due_at, tz)}."


def call_to_practitioner() -> str:
    return "If you are safe, reply OK by text or check out in the app. Goodbye."


def call_no_keypress() -> str:
    return "No key pressed. The alert is still open and others will be contacted. Goodbye."


_VIA.setdefault("voice", "by phone, pressing 1")
# --- the on-call rota (escalation/rota_notices.py) ---------------------------------------------
# No case detail: these go out whatever is happening, and say only when someone is on call.


def rota_handover(*, rotation_name: str, cover: str, starts_at: datetime, ends_at: datetime) -> str:
    return (
        f"SafetyCheck: your turn on call ({rotation_name}, {cover}) starts {when(starts_at)} and "
        f"runs until {when(ends_at)}. Keep your phone on and charged."
    )


def rota_override(*, cover: str, starts_at: datetime, ends_at: datetime) -> str:
    return (
        f"SafetyCheck: you are covering on call ({cover}) from {when(starts_at)} until "
        f"{when(ends_at)}. Keep your phone on and charged."
    )


def rota_gap(*, team_name: str, starts_at: datetime, ends_at: datetime) -> str:
    return (
        f"SafetyCheck: nobody is on call for {team_name} from {when(starts_at)} until "
        f"{when(ends_at)}. Add an override or fix the rota in SafetyCheck (Admin, On-call rota)."
    )


# --- coverage: overdue ladders that would reach nobody who can act (escalation/coverage.py) -------

NO_COVER_WARNING = (
    "Your team has no manager with a working phone number and nobody is on call, so nobody can "
    "be texted if you are overdue. Your check-in is recorded. Tell your manager, or an admin, "
    "before you go in."
)


def no_cover_reason(*, managers: int, deliverable: int, ladder_texts_managers: bool = True) -> str:
    """Why a team has no cover, for /admin and the admins' text: what an admin must fix."""
    if not ladder_texts_managers:
        who = "the overdue ladder texts no managers"
    elif managers == 0:
        who = "no active manager"
    else:
        who = f"{managers} manager{'s' if managers != 1 else ''}, {deliverable} with a working number"
    return f"{who}, and nobody on call"


def no_cover_alert(*, team_name: str, reason: str) -> str:
    """To admins, once per team and day: overdue visits in this team would reach nobody."""
    return (
        f"SafetyCheck: team {short_place(team_name, 40)} has no cover ({reason}). An overdue "
        "visit there reaches no one who can act. Add a manager or on-call contact, or correct "
        f"their numbers, {ACT_IN_APP}."
    )


# Bundled escalation texts (escalation/bundling.py) ---------------------------------------------

BUNDLE_HEAD = "SAFETYCHECK: {n} alerts need someone to take charge."
BUNDLE_TAIL = "Reply ACK and the code of each alert you take charge of."
_BUNDLE_KIND = {"overdue": "OVERDUE", "panic": "PANIC", "duress": "DURESS", "incident": "INCIDENT"}


def escalation_line(
    *,
    kind: str,  # an AlarmKind value
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
    """One alarm's line in a bundled text: the same facts as `escalation`, fewer words.

    Who (and their phone), where, since when, the last known location, and the alarm's own
    `ACK <code>`. Truncation uses "..." rather than "…", which would make the whole text UCS-2
    (67 characters a segment instead of 153).
    """
    again = f" (reminder {repeat})" if repeat > 0 else ""
    who = f"{_short_gsm(practitioner_name, 40)} ({practitioner_phone})"
    where = f"at {_short_gsm(address, 50)}" if address else "(no visit in progress)"
    if kind == "overdue":
        what = f"{who} not checked out {where}, due {local_time(due_at or raised_at, tz)}."
    elif kind == "panic":
        note = f' "{_short_gsm(message, 40)}"' if message else ""
        what = f"{who} pressed panic {where} at {local_time(raised_at, tz)}.{note}"
    elif kind == "duress":
        what = (
            f"{who} used the duress PIN {where} at {local_time(raised_at, tz)}: "
            "do not reveal the alarm to anyone who answers."
        )
    else:
        where = f"at {_short_gsm(address, 50)}" if address else "(address not given)"
        what = f"serious incident {where} reported by {who} at {local_time(raised_at, tz)}, not acknowledged."
    return f"{_BUNDLE_KIND.get(kind, kind.upper())}{again}: {what} {location} ACK {code}"


def escalation_bundle(lines: list[str]) -> str:
    """Several alarms for one person in one text, one line each, most urgent first."""
    return "\n".join([BUNDLE_HEAD.format(n=len(lines)), *lines, BUNDLE_TAIL])


def bare_ack_after_bundle(*, listed: int, open_codes: list[str]) -> str:
    """A bare ACK after a text that listed several alerts: nothing is acknowledged; say which."""
    head = f"SafetyCheck: your last text listed {listed} alerts, so ACK alone took charge of none."
    if not open_codes:
        return f"{head} All of them have been taken charge of or are over."
    return f"{head} Reply {' or '.join(f'ACK {code}' for code in open_codes)} for each you take charge of."


def _short_gsm(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."
