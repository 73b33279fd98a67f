"""SMS commands from phones with no data signal: ACK, OK, EXT, HELP/SOS.

Handled once per Twilio MessageSid (Twilio retries webhooks), answered with a short reply.
Unknown text gets a help reply, but only a few an hour per number, so two auto-responders
texting each other cannot run up a bill.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

import sqlalchemy as sa

from safetycheck import wording as texts
from safetycheck.accounts import service as account_service
from safetycheck.accounts.enums import Role
from safetycheck.accounts.models import User
from safetycheck.errors import DomainError
from safetycheck.escalation import alarms as alarm_service
from safetycheck.escalation import bundling, panic
from safetycheck.escalation.enums import AlarmStatus
from safetycheck.escalation.models import Alarm, AlarmRecipient, InboundSms
from safetycheck.extensions import db
from safetycheck.visits import service as visit_service
from safetycheck.visits.models import Visit

HELP_REPLIES_PER_HOUR = 3
_COMMAND = re.compile(
    r"^\s*(?:(?P<ack>ACK|ACKNOWLEDGE)(?:\s+(?P<code>[A-Z0-9]{3,8}))?"
    r"|(?P<ok>OK|SAFE)(?:\s+(?P<pin>[0-9]{4,8}))?"
    r"|(?P<ext>EXT|EXTEND)\s*(?P<minutes>[0-9]{1,4})?"
    r"|(?P<help>HELP|SOS))\s*[.!]*\s*$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Command:
    name: str  # ack, ok, ext, help, unknown
    code: str | None = None
    minutes: int | None = None
    pin: str | None = None


def parse(body: str) -> Command:
    match = _COMMAND.match(body or "")
    if match is None:
        return Command("unknown")
    if match["ack"]:
        return Command("ack", code=match["code"].upper() if match["code"] else None)
    if match["ok"]:
        return Command("ok", pin=match["pin"])
    if match["ext"]:
        return Command("ext", minutes=int(match["minutes"]) if match["minutes"] else None)
    return Command("help")


@dataclass(frozen=True)
class Reply:
    text: str | None  # None: answer with an empty TwiML response (send nothing)
    duplicate: bool = False


def handle_inbound(
    *,
    message_sid: str,
    from_phone: str,
    body: str,
    now: datetime,
    max_extend: int,
    max_visit_total: int,
    tz: tzinfo,
    may_start_ladder: Callable[[int], bool] | None = None,
) -> Reply:
    """Act on one inbound text exactly once and say what to reply; the caller commits.

    `may_start_ladder` is the panic button's abuse limit (see `panic.raise_panic`) for HELP.
    """
    seen = db.session.scalar(sa.select(InboundSms).where(InboundSms.message_sid == message_sid))
    if seen is not None:
        return Reply(seen.reply, duplicate=True)
    command = parse(body)
    user = account_service.find_user_by_phone(from_phone)
    record = InboundSms(
        message_sid=message_sid,
        from_phone=from_phone,
        body=(body or "")[:1600],
        received_at=now,
        user_id=user.id if user else None,
        command=command.name,
    )
    db.session.add(record)
    if user is None:
        record.result = "unknown sender"
        record.reply = _capped(record, "This number is not registered with SafetyCheck.")
    else:
        try:
            with db.session.begin_nested():  # a refused command undoes itself, the record stays
                record.result, record.reply = _act(
                    user,
                    command,
                    now=now,
                    max_extend=max_extend,
                    max_visit_total=max_visit_total,
                    tz=tz,
                    may_start_ladder=may_start_ladder,
                )
        except DomainError as exc:
            record.result = f"refused: {exc.message}"[:300]
            record.reply = f"SafetyCheck: {exc.message}"
        if command.name == "unknown":
            record.reply = _capped(record, record.reply)
    db.session.flush()
    return Reply(record.reply)


def _act(
    user: User,
    command: Command,
    *,
    now: datetime,
    max_extend: int,
    max_visit_total: int,
    tz: tzinfo,
    may_start_ladder: Callable[[int], bool] | None,
) -> tuple[str, str | None]:
    if command.name == "ack":
        return _ack(user, command.code, now=now, tz=tz)
    if command.name in ("ok", "ext", "help") and user.role != Role.PRACTITIONER:
        return (
            "not a practitioner",
            "SafetyCheck: to take charge of an alert reply ACK and its code, e.g. ACK K7Q2.",
        )
    if command.name == "ok":
        visit = visit_service.current_visit(user.id)
        if visit is None:
            return "no visit", "SafetyCheck: you have no visit in progress."
        visit_service.check_out(user, visit.id, now=now, pin=command.pin)
        # The same words whether or not the PIN was the duress PIN.
        return "checked out", f"SafetyCheck: checked out of {visit.address}. Thank you."
    if command.name == "ext":
        visit = visit_service.current_visit(user.id)
        if visit is None:
            return "no visit", "SafetyCheck: you have no visit in progress."
        if command.minutes is None or not 1 <= command.minutes <= max_extend:
            return "bad minutes", f"SafetyCheck: reply EXT and the minutes (1 to {max_extend}), e.g. EXT 30."
        left = visit_service.minutes_left(visit, now=now, max_total_minutes=max_visit_total)
        limit = visit_service.visit_limit(max_visit_total)
        if left < 1:
            return "visit at its longest", (
                f"SafetyCheck: a visit can last at most {limit} from check-in, and yours has reached it. "
                "Reply OK when you leave, and check in again if you are staying."
            )
        if command.minutes > left:
            return "past the longest visit", (
                f"SafetyCheck: a visit can last at most {limit} from check-in: reply EXT {left} or less."
            )
        visit = visit_service.extend(
            user,
            visit.id,
            minutes=command.minutes,
            now=now,
            max_minutes=max_extend,
            max_total_minutes=max_visit_total,
        )
        return "extended", f"SafetyCheck: extended, now due at {texts.local_time(visit.due_at, tz)}."
    if command.name == "help":
        alarm = panic.raise_panic(user, now=now, message="Raised by SMS", may_start_ladder=may_start_ladder)
        return (
            f"panic alarm {alarm.id}",
            "SafetyCheck: panic alarm raised. Your managers are being alerted now.",
        )
    return "unknown", (
        "SafetyCheck: reply OK to check out, EXT 30 to extend by 30 minutes, HELP to raise the alarm; "
        "managers reply ACK and the alert code."
    )


def _ack(user: User, code: str | None, *, now: datetime, tz: tzinfo) -> tuple[str, str]:
    if code is None:
        last = bundling.last_text(user.id)
        if last is not None and last.listed > 1:
            # The text listed several alerts: ACK alone cannot say which, so it takes none.
            listed = [a.code for a in last.open_alarms]
            return "ambiguous ack", texts.bare_ack_after_bundle(listed=last.listed, open_codes=listed)
        candidates = _open_alarms_for(user)
        if not candidates:
            return "nothing to ack", "SafetyCheck: you have no open alert to acknowledge."
        if len(candidates) > 1:
            codes = " or ".join(f"ACK {a.code}" for a in candidates[:4])
            return "ambiguous ack", f"SafetyCheck: several alerts are open; reply {codes}."
        alarm = candidates[0]
    else:
        found = alarm_service.find_by_code(code)
        if found is None or not alarm_service.may_acknowledge(user, found):
            return (
                "unknown code",
                f"SafetyCheck: no alert {code} for you. Check the code and reply ACK <code>.",
            )
        alarm = found
    if alarm.status == AlarmStatus.RESOLVED:
        return "already resolved", f"SafetyCheck: alert {alarm.code} is already resolved."
    result = alarm_service.acknowledge(alarm, actor=user, now=now, via="sms")
    taken = result.alarm
    if not result.first:
        by = db.session.get(User, taken.acknowledged_by) if taken.acknowledged_by else None
        when = texts.local_time(taken.acknowledged_at, tz) if taken.acknowledged_at else "earlier"
        return "already acknowledged", (
            f"SafetyCheck: {by.name if by else 'someone'} took charge of alert {taken.code} at {when}."
        )
    worker = taken.practitioner
    visit = db.session.get(Visit, taken.visit_id) if taken.visit_id else None
    where = f" at {visit.address}" if visit else ""
    return "acknowledged", (
        f"SafetyCheck: you have taken charge of alert {taken.code} for {worker.name}{where}. "
        f"Their phone: {worker.phone}. Resolve it on the board when it is over."
    )


def _open_alarms_for(user: User) -> list[Alarm]:
    texted = sa.select(AlarmRecipient.alarm_id).where(AlarmRecipient.user_id == user.id)
    query = sa.select(Alarm).where(Alarm.status == AlarmStatus.OPEN)
    if user.role == Role.MANAGER:
        query = query.where(sa.or_(Alarm.id.in_(texted), Alarm.team_id == user.team_id))
    elif user.role != Role.ADMIN:
        query = query.where(Alarm.id.in_(texted))
    return [a for a in db.session.scalars(query.order_by(Alarm.raised_at)) if a.practitioner_id != user.id]


def _capped(record: InboundSms, reply: str | None) -> str | None:
    """The help reply, unless this number already had its few help replies this hour."""
    recent = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(InboundSms)
        .where(
            InboundSms.from_phone == record.from_phone,
            InboundSms.message_sid != record.message_sid,
            InboundSms.received_at >= record.received_at - timedelta(hours=1),
            InboundSms.reply.is_not(None),
            InboundSms.command.in_(["unknown"]) | InboundSms.user_id.is_(None),
        )
    )
    return reply if (recent or 0) < HELP_REPLIES_PER_HOUR else None
