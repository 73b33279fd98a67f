"""Extension objects, created once here and bound to the app in `create_app`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy

from safetycheck.db import Base, BindHonouringSession

db = SQLAlchemy(model_class=Base, session_options={"class_": BindHonouringSession})

# The base class of every model. At run time it is `db.Model`; mypy cannot take a base class from
# an instance attribute (python/mypy#8603, pallets-eco/flask-sqlalchemy#1186), so it is told what
# `db.Model` is: our declarative `Base` with Flask-SQLAlchemy's model mixin.
if TYPE_CHECKING:
    from flask_sqlalchemy.model import Model as _FlaskModel

    class Model(Base, _FlaskModel):
        __abstract__ = True
else:
    Model = db.Model
migrate = Migrate(compare_type=True, render_as_batch=True)
# The flask-smorest Api object is the HTTP edge's: `safetycheck.api.errors.api`.
