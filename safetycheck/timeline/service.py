"""Append to and read the timeline."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from safetycheck.extensions import db
from safetycheck.timeline.models import TimelineEntry


def record(
    subject_type: str,
    subject_id: int,
    event: str,
    *,
    at: datetime,
    actor_id: int | None = None,
    restricted: bool = False,
    **details: Any,
) -> TimelineEntry:
    """Append one entry; `details` must be JSON-serialisable."""
    entry = TimelineEntry(
        subject_type=subject_type,
        subject_id=subject_id,
        event=event,
        at=at,
        actor_id=actor_id,
        restricted=restricted,
        details=details,
    )
    db.session.add(entry)
    return entry


def entries_for(subject_type: str, subject_id: int, *, include_restricted: bool) -> list[TimelineEntry]:
    query = sa.select(TimelineEntry).where(
        TimelineEntry.subject_type == subject_type, TimelineEntry.subject_id == subject_id
    )
    if not include_restricted:
        query = query.where(sa.not_(TimelineEntry.restricted))
    return list(db.session.scalars(query.order_by(TimelineEntry.id)))
