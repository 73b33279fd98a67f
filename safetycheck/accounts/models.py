"""Teams, users and bearer tokens."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from safetycheck.accounts.enums import Role
from safetycheck.db import str_enum
from safetycheck.extensions import Model


class Team(Model):
    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    created_at: Mapped[datetime]

    # "Eastside" and "EASTSIDE" are one team to the people choosing from a list.
    __table_args__ = (sa.Index("uq_teams_lower_name", sa.func.lower(name), unique=True),)


class User(Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    # E.164 and unique: an inbound text is matched to its sender by this number alone.
    phone: Mapped[str] = mapped_column(sa.String(20), index=True, unique=True)
    role: Mapped[Role] = mapped_column(str_enum(Role))
    team_id: Mapped[int | None] = mapped_column(sa.ForeignKey("teams.id"), index=True)
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    duress_pin_hash: Mapped[str | None] = mapped_column(sa.String(255))
    on_call: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    active: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    # Set when Twilio says this number can never be reached (invalid, opted out, landline);
    # escalation skips the number and admins see the flag until the phone is corrected.
    phone_undeliverable_at: Mapped[datetime | None]
    phone_undeliverable_reason: Mapped[str | None] = mapped_column(sa.String(200))
    created_at: Mapped[datetime]

    # Loaded on access, never joined eagerly: an eager LEFT OUTER JOIN to a nullable side makes
    # PostgreSQL refuse every `SELECT ... FOR UPDATE` on users or on rows that join to them.
    team: Mapped[Team | None] = relationship()


class ApiToken(Model):
    """An opaque bearer token; only its SHA-256 is stored, so a database leak leaks no logins."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    device: Mapped[str] = mapped_column(sa.String(120))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(lazy="joined")


class WebSession(Model):
    """A browser sign-in. The cookie carries a random secret; only its SHA-256 is stored, and the
    row is what makes a session end everywhere at once (sign-out, revoked tokens, deactivation)."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    secret_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    # The absolute maximum, however active the session is (indexed for the purge job).
    expires_at: Mapped[datetime] = mapped_column(index=True)
    ended_at: Mapped[datetime | None]
    user_agent: Mapped[str | None] = mapped_column(sa.String(200))

    user: Mapped[User] = relationship(lazy="joined")


class SigninThrottle(Model):
    """Failed sign-ins for one email address (known or not), shared by every instance.

    Keyed by a digest of the normalised email so that an address nobody has is throttled exactly
    like a real one (the two must look alike) without storing what strangers typed.
    """

    __tablename__ = "signin_throttles"

    id: Mapped[int] = mapped_column(primary_key=True)
    email_digest: Mapped[str] = mapped_column(sa.String(64), unique=True)
    failures: Mapped[int] = mapped_column(default=0, server_default="0")
    last_failed_at: Mapped[datetime] = mapped_column(index=True)
    locked_until: Mapped[datetime | None]
