"""What the current transaction has raised and written itself, so deciding asks the database less.

Deciding a burst of 1,000 overdue visits cost 26 statements a visit, and 11 of them asked the
database whether texts, links or recipients existed for an alarm raised a moment earlier in the
same transaction. For such an alarm the answer is known without asking: its id is new and not yet
visible to any other transaction, and every dedupe key of its texts carries that id, so only this
transaction can have written them, and it remembers what it wrote here. The unique keys stay the
backstop; this only skips the look-ups, and the savepoints that guard against another process
winning a race that cannot happen for these rows.

Everything here lives in the session's `info` and is forgotten when the outermost transaction
ends (commit or rollback), so nothing is carried from one transaction to the next.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import Session, SessionTransaction

from safetycheck.accounts.models import User
from safetycheck.extensions import db

_KEY = "safetycheck.in_transaction"


@dataclass
class _Memory:
    raised: set[int] = field(default_factory=set)  # alarms inserted by this transaction
    keys: set[str] = field(default_factory=set)  # outbox dedupe keys written for them
    links: set[tuple[int, int, int]] = field(default_factory=set)  # (alarm, execution, recipient)
    recipients: set[tuple[int, int]] = field(default_factory=set)  # (alarm, user) noted
    team_managers: dict[int, list[User]] = field(default_factory=dict)


def _memory() -> _Memory:
    info = db.session().info
    memory: _Memory | None = info.get(_KEY)
    if memory is None:
        memory = info[_KEY] = _Memory()
    return memory


def note_raised(alarm_id: int) -> None:
    """This transaction inserted the alarm: nothing about it exists outside it."""
    _memory().raised.add(alarm_id)


def raised_here(alarm_id: int | None) -> bool:
    return alarm_id is not None and alarm_id in _memory().raised


def key_written(key: str) -> bool:
    """Whether this transaction already wrote a text with this dedupe key (for its own alarms)."""
    return key in _memory().keys


def note_key(key: str) -> None:
    _memory().keys.add(key)


def link_written(alarm_id: int, execution: int, recipient_id: int) -> bool:
    return (alarm_id, execution, recipient_id) in _memory().links


def note_link(alarm_id: int, execution: int, recipient_id: int) -> None:
    _memory().links.add((alarm_id, execution, recipient_id))


def first_recipient(alarm_id: int, user_id: int) -> bool:
    """For an alarm raised here: True the first time this person is noted (then remembered)."""
    noted = _memory().recipients
    if (alarm_id, user_id) in noted:
        return False
    noted.add((alarm_id, user_id))
    return True


def team_managers(team_id: int) -> list[User]:
    """The team's active managers, read once per transaction (a burst asks once per alarm).

    Forgotten when the transaction writes any user (`_forget_users`), so a transaction that
    changes a manager and then decides a step reads them again.
    """
    memory = _memory()
    managers = memory.team_managers.get(team_id)
    if managers is None:
        from safetycheck.accounts import service as account_service

        managers = memory.team_managers[team_id] = account_service.team_managers(team_id)
    return managers


def install() -> None:
    """Forget at the end of each outermost transaction (once per process)."""
    if not sa.event.contains(Session, "after_transaction_end", _forget):
        sa.event.listen(Session, "after_transaction_end", _forget)
        sa.event.listen(Session, "before_flush", _forget_users)


def _forget(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_KEY, None)


def _forget_users(session: Session, _context: object, _instances: object) -> None:
    memory: _Memory | None = session.info.get(_KEY)
    if memory is None or not memory.team_managers:
        return
    if any(isinstance(obj, User) for obj in (*session.new, *session.dirty, *session.deleted)):
        memory.team_managers.clear()
