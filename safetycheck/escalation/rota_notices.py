"""The rota's texts: whoever's turn on call starts hears of it, and admins hear of gaps in cover.

Sweep parts of the periodic stage. The rota itself lives in `accounts/rota.py`; the texts live
here because escalation owns the outbox. Each text has a dedupe key, so any number of sweepers
send it once: one per turn of a rotation and person, one per override, one per gap and admin.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from safetycheck import wording
from safetycheck.accounts import rota
from safetycheck.accounts.enums import Role
from safetycheck.accounts.models import Team, User
from safetycheck.accounts.rota_models import RotaOverride, Rotation
from safetycheck.engine.parts import PERIODIC, sweep_part
from safetycheck.escalation import outbox
from safetycheck.escalation.enums import MessagePurpose
from safetycheck.extensions import db

# A gap is keyed by when it began; looking back this far finds the start of one in progress.
# One older than that is keyed as "open" and flagged once until cover returns.
GAP_LOOKBACK = timedelta(days=7)


def _cover(team: Team | None) -> str:
    return team.name if team is not None else "all teams"


@sweep_part("escalation.rota_handover", stage=PERIODIC)
def text_handovers(session: Any, now: datetime) -> int:
    """Text each person whose turn on call (or override) is in progress, once per turn."""
    sent = 0
    if rota.rota_in_use():
        for shift in rota.current_shifts(now):
            rotation = db.session.get(Rotation, shift.rotation_id)
            assert rotation is not None
            body = wording.rota_handover(
                rotation_name=rotation.name,
                cover=_cover(rotation.team),
                starts_at=shift.starts_at,
                ends_at=shift.ends_at,
            )
            key = f"rota:{rotation.id}:shift:{shift.index}:user:{shift.user.id}"
            sent += _text(key, shift.user, body, now)
    overrides = db.session.scalars(
        sa.select(RotaOverride).where(RotaOverride.starts_at <= now, RotaOverride.ends_at > now)
    ).all()
    for override in overrides:
        if override.user.active:
            body = wording.rota_override(
                cover=_cover(override.team), starts_at=override.starts_at, ends_at=override.ends_at
            )
            sent += _text(f"rota:override:{override.id}:user:{override.user_id}", override.user, body, now)
    return sent


@sweep_part("escalation.rota_gaps", stage=PERIODIC)
def flag_gaps(session: Any, now: datetime) -> int:
    """Tell the admins, once per gap, of the next period in the next 7 days with nobody on call for a team.

    Only once a rota is in use: before that the flag alone decides, as it always did.
    """
    if not rota.rota_in_use():
        return 0
    admins = db.session.scalars(
        sa.select(User).where(User.role == Role.ADMIN, User.active).order_by(User.id)
    ).all()
    sent = 0
    for team in db.session.scalars(sa.select(Team).order_by(Team.id)):
        # Only the first gap ahead: a rota short every weekday would otherwise send a week of
        # texts at once. Each later gap is told when it becomes the next one.
        ahead = [
            g
            for g in rota.gaps(now - GAP_LOOKBACK, now + rota.GAP_HORIZON, team_id=team.id)
            if g.ends_at > now
        ]
        if not ahead:
            continue
        gap = ahead[0]
        since = "open" if gap.starts_at <= now - GAP_LOOKBACK else f"{gap.starts_at:%Y%m%dT%H%M%SZ}"
        body = wording.rota_gap(team_name=team.name, starts_at=gap.starts_at, ends_at=gap.ends_at)
        for admin in admins:
            sent += _text(f"rota:gap:team:{team.id}:{since}:user:{admin.id}", admin, body, now)
    return sent


def _text(key: str, user: User, body: str, now: datetime) -> int:
    message = outbox.enqueue(dedupe_key=key, purpose=MessagePurpose.ROTA, recipient=user, body=body, now=now)
    return 1 if message is not None else 0
