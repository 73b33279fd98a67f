"""Extension objects, created once here and bound to the app in `create_app`."""

from __future__ import annotations

from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy

from safetycheck.api.errors import SafetyCheckApi
from safetycheck.db import Base, BindHonouringSession

db = SQLAlchemy(model_class=Base, session_options={"class_": BindHonouringSession})
migrate = Migrate(compare_type=True, render_as_batch=True)
# Our Api subclass: its error handler keeps Werkzeug's headers and always answers the one error
# shape with `message` and flat, field-named `errors` (the stock handler does neither).
api = SafetyCheckApi()
