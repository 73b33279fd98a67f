"""Schema pieces and helpers shared by several resources."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
import sqlalchemy as sa
from marshmallow import fields, validate

from safetycheck.extensions import db


class StrictSchema(ma.Schema):
    """Request bodies: unknown fields are errors, so a typo does not silently do nothing."""

    class Meta:
        unknown = ma.RAISE


class LocationSchema(StrictSchema):
    lat = fields.Float(required=True, validate=validate.Range(-90, 90), allow_nan=False)
    lon = fields.Float(required=True, validate=validate.Range(-180, 180), allow_nan=False)
    accuracy_m = fields.Float(validate=validate.Range(min=0), allow_nan=False, allow_none=True)


class TimelineEntrySchema(ma.Schema):
    """One entry of a visit's, alarm's or incident's append-only timeline."""

    event = fields.String()
    at = fields.AwareDateTime()
    actor_id = fields.Integer(allow_none=True)
    details = fields.Dict()


class PageArgsSchema(ma.Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class PageSchema(ma.Schema):
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()


def paginate(query: sa.Select[Any], *, page: int, per_page: int) -> dict[str, Any]:
    """Run a select for one page; answers `{items, page, per_page, total}`."""
    total = db.session.scalar(sa.select(sa.func.count()).select_from(query.order_by(None).subquery()))
    items = list(db.session.scalars(query.limit(per_page).offset((page - 1) * per_page)))
    return {"items": items, "page": page, "per_page": per_page, "total": total or 0}
