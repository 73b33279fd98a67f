"""Configuration in layers, each overriding the one before:

1. the packaged defaults, `safetycheck/defaults/settings.toml` (always read);
2. the operator's settings file named by SAFETYCHECK_CONFIG_FILE, if that variable is set;
3. SAFETYCHECK_* environment variables;
4. in tests, the dictionary given to create_app().

Every value is checked once at start-up so a typo fails the deploy with a message naming the
setting, instead of failing the first escalation at 3 a.m.
"""

from __future__ import annotations

import difflib
import os
import secrets
import tomllib
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
import phonenumbers
from flask import Flask

from safetycheck.db import normalise_database_url
from safetycheck.headers import parse_origins
from safetycheck.limits import LIMITS, LimitConfigError, parse_limit
from safetycheck.paths import DEFAULT_POLICY_PATH, DEFAULT_SETTINGS_PATH

SMS_BACKENDS = ("console", "twilio")
ENVIRONMENTS = ("development", "test", "production")
# Settings that are text even when they look like JSON: `from_prefixed_env` would turn a secret
# such as "1234e5678" into a float and "true" into a bool, so these keep the variable's exact text.
TEXT_SETTINGS = (
    "ENV",
    "SECRET_KEY",
    "DATABASE_URL",
    "SMS_BACKEND",
    "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN",
    "TWILIO_FROM_NUMBER",
    "TWILIO_BASE_URL",
    "PUBLIC_URL",
    "ESCALATION_POLICY",
    "DISPLAY_TIMEZONE",
    "DEFAULT_PHONE_REGION",
    "BANK_HOLIDAYS",
    "REDIS_URL",
)


class ConfigError(RuntimeError):
    """A setting is missing or has a value the service cannot run with."""


def load_settings(app: Flask, test_config: dict[str, Any] | None) -> None:
    """Fill `app.config` from the layers and validate the result."""
    app.config.from_file(str(DEFAULT_SETTINGS_PATH), load=tomllib.load, text=False)
    files = [DEFAULT_SETTINGS_PATH]
    override = os.environ.get("SAFETYCHECK_CONFIG_FILE")
    if override:
        path = _absolute(Path(override))
        app.config.update(_read_settings_file(path, known=set(app.config)))
        files.append(path)
    app.extensions["safetycheck.settings_files"] = files
    app.config.from_prefixed_env("SAFETYCHECK")
    for name in TEXT_SETTINGS:
        raw = os.environ.get(f"SAFETYCHECK_{name}")
        if raw is not None:
            app.config[name] = raw
    if test_config:
        app.config.update(test_config)
    _validate(app)


def _absolute(path: Path) -> Path:
    return path if path.is_absolute() else Path.cwd() / path


def _read_settings_file(path: Path, *, known: set[str]) -> dict[str, Any]:
    """Read an operator's settings file; a key the service does not know is a typo, not a no-op."""
    where = f"SAFETYCHECK_CONFIG_FILE: {path}"
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: invalid TOML: {exc}") from exc
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read: {exc.strerror or exc}") from exc
    for key in data:
        if key not in known:
            close = difflib.get_close_matches(key.upper(), sorted(known), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ConfigError(f"{where}: unknown setting {key!r}{hint}")
    policy = data.get("ESCALATION_POLICY")
    if isinstance(policy, str) and policy and not Path(policy).is_absolute():
        # Beside the settings file, where the operator keeps it, not wherever the service starts.
        data["ESCALATION_POLICY"] = str(path.parent / policy)
    return data


def _as_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in {"1", "true", "yes", "on"}:
        return True
    if isinstance(value, str) and value.lower() in {"0", "false", "no", "off"}:
        return False
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise ConfigError(f"SAFETYCHECK_{name} must be true or false, not {value!r}")


def _as_number(name: str, value: Any, *, minimum: float, integer: bool = False) -> float:
    try:
        number = float(value) if not isinstance(value, bool) else float("nan")
    except (TypeError, ValueError):
        number = float("nan")
    if number != number or number < minimum or (integer and number != int(number)):
        kind = "a whole number" if integer else "a number"
        raise ConfigError(f"SAFETYCHECK_{name} must be {kind} >= {minimum}, not {value!r}")
    return int(number) if integer else number


def _validate(app: Flask) -> None:
    cfg = app.config
    cfg["ENV"] = str(cfg.get("ENV") or "development").lower()
    if cfg["ENV"] not in ENVIRONMENTS:
        # A typo ("prod") must not quietly run with development defaults such as a random key.
        raise ConfigError(f"SAFETYCHECK_ENV must be one of {', '.join(ENVIRONMENTS)}, not {cfg['ENV']!r}")
    production = cfg["ENV"] == "production"

    if not cfg.get("SECRET_KEY"):
        if production:
            raise ConfigError("SAFETYCHECK_SECRET_KEY is required when SAFETYCHECK_ENV=production")
        cfg["SECRET_KEY"] = secrets.token_hex(32)

    url = str(cfg.get("DATABASE_URL") or "")
    if not url:
        Path(app.instance_path).mkdir(parents=True, exist_ok=True)
        url = "sqlite:///" + str(Path(app.instance_path) / "safetycheck.sqlite3")
    url = normalise_database_url(url)
    if not url.startswith(("sqlite", "postgresql")):
        raise ConfigError(
            f"SAFETYCHECK_DATABASE_URL must be a sqlite:// or postgresql:// URL, not {url.split(':')[0]}://…"
        )
    cfg["DATABASE_URL"] = url
    cfg["SQLALCHEMY_DATABASE_URI"] = url
    cfg.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {})
    cfg["DATABASE_PING_AFTER_IDLE"] = _as_number(
        "DATABASE_PING_AFTER_IDLE", cfg.get("DATABASE_PING_AFTER_IDLE", 30), minimum=0
    )

    backend = str(cfg.get("SMS_BACKEND") or "console").lower()
    if backend not in SMS_BACKENDS:
        raise ConfigError(
            f"SAFETYCHECK_SMS_BACKEND must be one of {', '.join(SMS_BACKENDS)}, not {backend!r}"
        )
    cfg["SMS_BACKEND"] = backend
    if backend == "twilio":
        for key in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM_NUMBER"):
            if not cfg.get(key):
                raise ConfigError(f"SAFETYCHECK_{key} is required when SAFETYCHECK_SMS_BACKEND=twilio")
    if backend == "console" and not cfg.get("TWILIO_AUTH_TOKEN") and not production:
        # Lets a developer sign simulated inbound texts (`safetycheck sms ...`)
        # against the console backend; production always uses the real Twilio token.
        cfg["TWILIO_AUTH_TOKEN"] = "development-auth-token"
    if production and not cfg.get("PUBLIC_URL"):
        raise ConfigError(
            "SAFETYCHECK_PUBLIC_URL is required in production: Twilio signatures are checked against it"
        )
    cfg["PUBLIC_URL"] = str(cfg.get("PUBLIC_URL") or "").rstrip("/")
    cfg["TWILIO_BASE_URL"] = str(cfg.get("TWILIO_BASE_URL") or "https://api.twilio.com").rstrip("/")

    cfg["SWEEP_INTERVAL_SECONDS"] = _as_number(
        "SWEEP_INTERVAL_SECONDS", cfg.get("SWEEP_INTERVAL_SECONDS"), minimum=0.05
    )
    cfg["WAKE_POLL_SECONDS"] = _as_number("WAKE_POLL_SECONDS", cfg.get("WAKE_POLL_SECONDS"), minimum=0)
    cfg["SCHEDULER_ENABLED"] = _as_bool("SCHEDULER_ENABLED", cfg.get("SCHEDULER_ENABLED"))
    for name in (
        "MAX_VISIT_MINUTES",
        "MAX_EXTEND_MINUTES",
        "TOKEN_TTL_DAYS",
        "MAX_CONTENT_LENGTH",
        "WEB_SESSION_IDLE_MINUTES",
        "WEB_SESSION_MAX_HOURS",
        "SIGNIN_LOCK_AFTER_FAILURES",
        "SIGNIN_LOCK_SECONDS",
        "SIGNIN_LOCK_MAX_SECONDS",
        "VISIT_LOCATION_RETENTION_DAYS",
        "VISIT_DETAIL_RETENTION_DAYS",
    ):
        cfg[name] = _as_number(name, cfg.get(name), minimum=1, integer=True)
    # The whole visit, extensions included; unset, it is the longest check-in.
    total = cfg.get("MAX_VISIT_TOTAL_MINUTES")
    total = cfg["MAX_VISIT_MINUTES"] if total in (None, "") else total
    cfg["MAX_VISIT_TOTAL_MINUTES"] = _as_number("MAX_VISIT_TOTAL_MINUTES", total, minimum=1, integer=True)
    if cfg["MAX_VISIT_TOTAL_MINUTES"] < cfg["MAX_VISIT_MINUTES"]:
        # A check-in alone may already last MAX_VISIT_MINUTES.
        raise ConfigError(
            "SAFETYCHECK_MAX_VISIT_TOTAL_MINUTES must be at least SAFETYCHECK_MAX_VISIT_MINUTES "
            f"({cfg['MAX_VISIT_TOTAL_MINUTES']} < {cfg['MAX_VISIT_MINUTES']})"
        )
    # The session cookie: never readable by scripts, not sent on cross-site posts, and only over
    # HTTPS in production (a development server on http://127.0.0.1 must still work).
    cfg["SESSION_COOKIE_NAME"] = "safetycheck_session"
    cfg["SESSION_COOKIE_HTTPONLY"] = True
    cfg["SESSION_COOKIE_SAMESITE"] = "Lax"
    cfg["SESSION_COOKIE_SECURE"] = production or bool(cfg.get("SESSION_COOKIE_SECURE"))
    cfg["TWILIO_TIMEOUT_SECONDS"] = _as_number(
        "TWILIO_TIMEOUT_SECONDS", cfg.get("TWILIO_TIMEOUT_SECONDS"), minimum=0.1
    )
    cfg["OUTBOX_STALE_CLAIM_SECONDS"] = _as_number(
        "OUTBOX_STALE_CLAIM_SECONDS", cfg.get("OUTBOX_STALE_CLAIM_SECONDS", 60), minimum=0.1
    )
    if cfg["OUTBOX_STALE_CLAIM_SECONDS"] <= cfg["TWILIO_TIMEOUT_SECONDS"]:
        # A live sender still waiting for Twilio would have its text reclaimed and sent again.
        raise ConfigError(
            "SAFETYCHECK_OUTBOX_STALE_CLAIM_SECONDS must be longer than SAFETYCHECK_TWILIO_TIMEOUT_SECONDS "
            f"({cfg['OUTBOX_STALE_CLAIM_SECONDS']} <= {cfg['TWILIO_TIMEOUT_SECONDS']})"
        )
    ring = cfg.get("CALL_RING_SECONDS", 30)
    if isinstance(ring, bool) or not isinstance(ring, int) or not 5 <= ring <= 600:
        raise ConfigError(f"SAFETYCHECK_CALL_RING_SECONDS must be a whole number from 5 to 600, not {ring!r}")

    cfg["OUTBOX_SENDERS"] = _as_number(
        "OUTBOX_SENDERS", cfg.get("OUTBOX_SENDERS", 32), minimum=1, integer=True
    )
    if cfg["OUTBOX_SENDERS"] > 64:
        # Each sender may hold a database connection for a claim or a record: keep within the pool.
        raise ConfigError(f"SAFETYCHECK_OUTBOX_SENDERS must be at most 64, not {cfg['OUTBOX_SENDERS']}")
    if url.startswith("postgresql"):
        # Each sender holds a connection while it drains, beside the sweep's and the web's own.
        # The default pool keeps 5: a pool of 16 or 32 senders opened and closed a PostgreSQL
        # connection (a backend process) for nearly every text, or waited for one.
        cfg["SQLALCHEMY_ENGINE_OPTIONS"].setdefault("pool_size", cfg["OUTBOX_SENDERS"] + 4)
    cfg["OUTBOX_MAX_PER_SECOND"] = _as_number(
        "OUTBOX_MAX_PER_SECOND", cfg.get("OUTBOX_MAX_PER_SECOND", 0), minimum=0
    )
    # Alarms one person is texted about in the same sweep batch share a text, this many at most.
    cfg["ESCALATION_BUNDLE_MAX_ALARMS"] = _as_number(
        "ESCALATION_BUNDLE_MAX_ALARMS", cfg.get("ESCALATION_BUNDLE_MAX_ALARMS", 10), minimum=1, integer=True
    )

    # Both are read long after start-up (a text at 3 a.m., a phone typed without +44): check now.
    zone = str(cfg.get("DISPLAY_TIMEZONE") or "Europe/London")
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"SAFETYCHECK_DISPLAY_TIMEZONE must be an IANA time zone, not {zone!r}") from exc
    cfg["DISPLAY_TIMEZONE"] = zone
    region = str(cfg.get("DEFAULT_PHONE_REGION") or "GB").upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ConfigError(
            f"SAFETYCHECK_DEFAULT_PHONE_REGION must be a region code such as GB, not {region!r}"
        )
    cfg["DEFAULT_PHONE_REGION"] = region
    # Working-day targets of the incident procedure skip this UK nation's bank holidays.
    nations = holidays.country_holidays("GB").subdivisions
    nation = str(cfg.get("BANK_HOLIDAYS") or "ENG").upper()
    if nation not in nations:
        raise ConfigError(
            "SAFETYCHECK_BANK_HOLIDAYS must be ENG (England and Wales), SCT (Scotland) or NIR "
            f"(Northern Ireland), not {nation!r}"
        )
    cfg["BANK_HOLIDAYS"] = nation

    _validate_limits(cfg)
    _validate_cors(cfg)

    policy = str(cfg.get("ESCALATION_POLICY") or "")
    cfg["ESCALATION_POLICY"] = str(_absolute(Path(policy)) if policy else DEFAULT_POLICY_PATH)


def _validate_limits(cfg: Any) -> None:
    """The abuse limits' switch, their storage and every rate (safetycheck/limits.py)."""

    cfg["RATELIMIT_ENABLED"] = _as_bool("RATELIMIT_ENABLED", cfg.get("RATELIMIT_ENABLED"))
    redis_url = str(cfg.get("REDIS_URL") or "")
    if redis_url and not redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(f"SAFETYCHECK_REDIS_URL must be a redis:// or rediss:// URL, not {redis_url!r}")
    cfg["REDIS_URL"] = redis_url
    for name in LIMITS:
        try:
            parse_limit(name, cfg.get(name))
        except LimitConfigError as exc:
            raise ConfigError(str(exc)) from exc


def _validate_cors(cfg: Any) -> None:
    """Allowed origins must be exact origins: a path or a wildcard would not match what browsers send."""

    origins = parse_origins(cfg.get("CORS_ALLOWED_ORIGINS"))
    for origin in origins:
        scheme, sep, rest = origin.partition("://")
        if scheme not in ("http", "https") or not sep or not rest or "/" in rest or "*" in rest:
            raise ConfigError(
                "SAFETYCHECK_CORS_ALLOWED_ORIGINS must list origins such as "
                f"https://app.example.org, not {origin!r}"
            )
    cfg["CORS_ALLOWED_ORIGINS"] = origins
    cfg["TRUSTED_PROXIES"] = _as_number(
        "TRUSTED_PROXIES", cfg.get("TRUSTED_PROXIES"), minimum=0, integer=True
    )
    cfg["CORS_MAX_AGE_SECONDS"] = _as_number(
        "CORS_MAX_AGE_SECONDS", cfg.get("CORS_MAX_AGE_SECONDS"), minimum=0, integer=True
    )
    cfg["REGISTER_EXACT_TOTAL_UP_TO"] = _as_number(
        "REGISTER_EXACT_TOTAL_UP_TO", cfg.get("REGISTER_EXACT_TOTAL_UP_TO"), minimum=0, integer=True
    )
