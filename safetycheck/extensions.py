"""Extension objects, created once here and bound to the app in `create_app`."""

from __future__ import annotations

from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy

from safetycheck.api.errors import SafetyCheckApi
from safetycheck.db import Base, BindHonouringSession

db = SQLAlchemy(model_class=Base, session_options={"class_": BindHonouringSession})
migrate = Migrate(compare_type=True, render_as_batch=True)
# The subclass keeps the contract's error shape: fields at the top of `errors`, Werkzeug's headers.
api = SafetyCheckApi()
