"""Settings in layers, checked at start-up: a bad value stops the service with a message naming it."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from safetycheck import create_app
from safetycheck.extensions import db
from safetycheck.paths import DEFAULT_SETTINGS_PATH, PACKAGE_DIR
from safetycheck.settings import DEFAULT_POLICY_PATH, ConfigError

TWILIO = {
    "SAFETYCHECK_SMS_BACKEND": "twilio",
    "SAFETYCHECK_TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
    "SAFETYCHECK_TWILIO_AUTH_TOKEN": "auth-token",
    "SAFETYCHECK_TWILIO_FROM_NUMBER": "+447700900999",
}


@pytest.fixture
def make_app(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Callable[..., Flask]]:
    """`make_app(**env)` builds an app from a clean environment plus these SAFETYCHECK_* variables."""
    for name in list(os.environ):
        if name.startswith("SAFETYCHECK_"):
            monkeypatch.delenv(name)
    built: list[Flask] = []

    def make(test_config: dict[str, Any] | None = None, **env: str) -> Flask:
        # No sweep thread in tests, unless a test is about that very variable.
        env.setdefault("SAFETYCHECK_SCHEDULER_ENABLED", "false")
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        config: dict[str, Any] = {"TESTING": True}
        if "SAFETYCHECK_DATABASE_URL" not in env:
            config["DATABASE_URL"] = f"sqlite:///{tmp_path / 'settings.sqlite3'}"
        app = create_app({**config, **(test_config or {})})
        built.append(app)
        return app

    yield make
    for app in built:
        with app.app_context():
            db.engine.dispose()


def test_defaults_come_from_the_packaged_settings_toml(make_app) -> None:
    app = make_app()

    assert app.config["SMS_BACKEND"] == "console"
    assert app.config["SWEEP_INTERVAL_SECONDS"] == 5
    assert app.config["MAX_VISIT_MINUTES"] == 720
    assert app.config["TOKEN_TTL_DAYS"] == 30
    assert app.config["MAX_CONTENT_LENGTH"] == 65536
    assert app.config["TWILIO_BASE_URL"] == "https://api.twilio.com"
    assert app.config["ESCALATION_POLICY"] == str(DEFAULT_POLICY_PATH)
    assert app.config["SECRET_KEY"]  # a random one in development


def test_the_packaged_defaults_are_found_from_any_working_directory(make_app, monkeypatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)
    app = make_app()

    assert DEFAULT_SETTINGS_PATH.parent.parent == PACKAGE_DIR
    assert app.extensions["safetycheck.settings_files"] == [DEFAULT_SETTINGS_PATH]
    assert app.config["ESCALATION_POLICY"] == str(PACKAGE_DIR / "defaults" / "escalation.toml")
    assert app.extensions["migrate"].directory == str(PACKAGE_DIR / "migrations")


def test_sqlite_in_the_instance_folder_is_the_default(monkeypatch, make_app, tmp_path) -> None:
    monkeypatch.setattr(Flask, "auto_find_instance_path", lambda self: str(tmp_path / "instance"))
    app = make_app({"DATABASE_URL": ""})

    assert (
        app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'instance' / 'safetycheck.sqlite3'}"
    )
    assert (tmp_path / "instance").is_dir()


def test_sqlite_runs_in_wal_mode_with_foreign_keys(make_app) -> None:
    app = make_app()
    with app.app_context():
        with db.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_development_secret_keys_are_random(make_app) -> None:
    assert make_app().config["SECRET_KEY"] != make_app().config["SECRET_KEY"]


def test_environment_overrides_files_and_test_config_overrides_both(make_app) -> None:
    app = make_app(SAFETYCHECK_MAX_VISIT_MINUTES="480", SAFETYCHECK_TOKEN_TTL_DAYS="7")
    assert app.config["MAX_VISIT_MINUTES"] == 480
    assert app.config["TOKEN_TTL_DAYS"] == 7

    app = make_app({"TOKEN_TTL_DAYS": 1}, SAFETYCHECK_TOKEN_TTL_DAYS="7")
    assert app.config["TOKEN_TTL_DAYS"] == 1


def test_bank_holidays_are_englands_unless_another_nation_is_chosen(make_app) -> None:
    assert make_app().config["BANK_HOLIDAYS"] == "ENG"
    assert make_app(SAFETYCHECK_BANK_HOLIDAYS="sct").config["BANK_HOLIDAYS"] == "SCT"
    assert make_app(SAFETYCHECK_BANK_HOLIDAYS="NIR").config["BANK_HOLIDAYS"] == "NIR"


def test_the_longest_visit_defaults_to_the_longest_check_in(make_app) -> None:
    assert make_app().config["MAX_VISIT_TOTAL_MINUTES"] == 720
    assert make_app(SAFETYCHECK_MAX_VISIT_MINUTES="480").config["MAX_VISIT_TOTAL_MINUTES"] == 480
    app = make_app(SAFETYCHECK_MAX_VISIT_MINUTES="720", SAFETYCHECK_MAX_VISIT_TOTAL_MINUTES="900")
    assert (app.config["MAX_VISIT_MINUTES"], app.config["MAX_VISIT_TOTAL_MINUTES"]) == (720, 900)


def test_the_longest_visit_cannot_be_shorter_than_the_longest_check_in(make_app) -> None:
    with pytest.raises(ConfigError, match="SAFETYCHECK_MAX_VISIT_TOTAL_MINUTES must be at least"):
        make_app(SAFETYCHECK_MAX_VISIT_TOTAL_MINUTES="600")


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("postgres://u:p@db.example:5432/sc", "postgresql+psycopg://u:p@db.example:5432/sc"),
        ("postgresql://u:p@db.example:5432/sc", "postgresql+psycopg://u:p@db.example:5432/sc"),
        ("postgresql+psycopg://u@db/sc", "postgresql+psycopg://u@db/sc"),
    ],
)
def test_plain_postgres_urls_use_psycopg_3(make_app, given, used) -> None:
    app = make_app(SAFETYCHECK_DATABASE_URL=given)

    assert app.config["SQLALCHEMY_DATABASE_URI"] == used
    with app.app_context():
        assert db.engine.dialect.driver == "psycopg"


def test_other_databases_are_refused(make_app) -> None:
    with pytest.raises(ConfigError, match="SAFETYCHECK_DATABASE_URL"):
        make_app(SAFETYCHECK_DATABASE_URL="mysql://u@db/sc")


@pytest.mark.parametrize(("value", "seconds"), [("0.5", 0.5), ("2", 2.0), ("0.05", 0.05)])
def test_sweep_interval_accepts_fractions(make_app, value, seconds) -> None:
    assert make_app(SAFETYCHECK_SWEEP_INTERVAL_SECONDS=value).config["SWEEP_INTERVAL_SECONDS"] == seconds


@pytest.mark.parametrize(("value", "enabled"), [("true", True), ("false", False), ("0", False), ("1", True)])
def test_scheduler_enabled_reads_booleans(make_app, value, enabled) -> None:
    app = make_app(SAFETYCHECK_SCHEDULER_ENABLED=value)
    assert app.config["SCHEDULER_ENABLED"] is enabled


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SMS_BACKEND", "carrier-pigeon"),
        ("SWEEP_INTERVAL_SECONDS", "-1"),
        ("SWEEP_INTERVAL_SECONDS", "0"),
        ("SWEEP_INTERVAL_SECONDS", "soon"),
        ("SWEEP_INTERVAL_SECONDS", "true"),
        ("SCHEDULER_ENABLED", "maybe"),
        ("SCHEDULER_ENABLED", "2"),
        ("MAX_VISIT_MINUTES", "0"),
        ("MAX_VISIT_MINUTES", "90.5"),
        ("MAX_EXTEND_MINUTES", "lots"),
        ("MAX_VISIT_TOTAL_MINUTES", "0"),
        ("MAX_VISIT_TOTAL_MINUTES", "all day"),
        ("TOKEN_TTL_DAYS", "-3"),
        ("MAX_CONTENT_LENGTH", "big"),
        ("TWILIO_TIMEOUT_SECONDS", "0"),
        ("DISPLAY_TIMEZONE", "Mars/Olympus_Mons"),
        ("DEFAULT_PHONE_REGION", "XX"),
        ("BANK_HOLIDAYS", "UK"),
        ("BANK_HOLIDAYS", "England"),
    ],
)
def test_garbage_values_fail_naming_the_variable(make_app, name, value) -> None:
    with pytest.raises(ConfigError, match=f"SAFETYCHECK_{name}"):
        make_app(**{f"SAFETYCHECK_{name}": value})


def test_production_needs_a_secret_key(make_app) -> None:
    with pytest.raises(ConfigError, match="SAFETYCHECK_SECRET_KEY"):
        make_app(SAFETYCHECK_ENV="production", SAFETYCHECK_PUBLIC_URL="https://sc.example")


def test_production_needs_the_public_url(make_app) -> None:
    with pytest.raises(ConfigError, match="SAFETYCHECK_PUBLIC_URL"):
        make_app(SAFETYCHECK_ENV="production", SAFETYCHECK_SECRET_KEY="s" * 40)


def test_production_with_its_secrets_starts(make_app) -> None:
    app = make_app(
        SAFETYCHECK_ENV="production",
        SAFETYCHECK_SECRET_KEY="s" * 40,
        SAFETYCHECK_PUBLIC_URL="https://sc.example/",
    )
    assert app.config["SECRET_KEY"] == "s" * 40
    assert app.config["PUBLIC_URL"] == "https://sc.example"


def test_an_unknown_environment_name_fails(make_app) -> None:
    # A typo must not silently run production with development defaults (a random secret key).
    with pytest.raises(ConfigError, match="SAFETYCHECK_ENV"):
        make_app(SAFETYCHECK_ENV="prod")


@pytest.mark.parametrize("missing", sorted(k for k in TWILIO if k != "SAFETYCHECK_SMS_BACKEND"))
def test_twilio_needs_its_credentials_naming_the_missing_one(make_app, missing) -> None:
    env = {k: v for k, v in TWILIO.items() if k != missing}
    with pytest.raises(ConfigError, match=missing):
        make_app(**env)


def test_twilio_with_credentials_starts(make_app) -> None:
    app = make_app(**TWILIO, SAFETYCHECK_TWILIO_BASE_URL="http://127.0.0.1:9/")
    assert app.config["SMS_BACKEND"] == "twilio"
    assert app.config["TWILIO_BASE_URL"] == "http://127.0.0.1:9"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SECRET_KEY", "12345678901234567890"),
        ("SECRET_KEY", "true"),
        ("TWILIO_AUTH_TOKEN", "1234e5678"),
        ("TWILIO_AUTH_TOKEN", "00112233"),
        ("TWILIO_FROM_NUMBER", "447700900999"),
    ],
)
def test_text_settings_keep_the_exact_text_of_the_variable(make_app, name, value) -> None:
    # from_prefixed_env reads values as JSON where it can: "1234e5678" would become a float.
    app = make_app(**{**TWILIO, f"SAFETYCHECK_{name}": value})
    assert app.config[name] == value


def test_escalation_policy_path_is_relative_to_the_working_directory(make_app, monkeypatch, tmp_path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(DEFAULT_POLICY_PATH.read_text())
    monkeypatch.chdir(tmp_path)

    app = make_app(SAFETYCHECK_ESCALATION_POLICY="policy.toml")

    assert app.config["ESCALATION_POLICY"] == str(policy)


def test_a_missing_escalation_policy_fails_naming_the_variable(make_app, tmp_path) -> None:
    with pytest.raises(ConfigError, match="SAFETYCHECK_ESCALATION_POLICY"):
        make_app(SAFETYCHECK_ESCALATION_POLICY=str(tmp_path / "nowhere.toml"))


# --- the operator's settings file (SAFETYCHECK_CONFIG_FILE) -------------------------------


def test_a_settings_file_overrides_the_defaults_and_the_environment_overrides_it(make_app, tmp_path) -> None:
    settings = tmp_path / "settings.toml"
    settings.write_text('MAX_VISIT_MINUTES = 480\nTOKEN_TTL_DAYS = 7\nDISPLAY_TIMEZONE = "Europe/Dublin"\n')

    app = make_app(SAFETYCHECK_CONFIG_FILE=str(settings), SAFETYCHECK_TOKEN_TTL_DAYS="3")

    assert app.config["MAX_VISIT_MINUTES"] == 480  # the file over the defaults
    assert app.config["TOKEN_TTL_DAYS"] == 3  # the environment over the file
    assert app.config["DISPLAY_TIMEZONE"] == "Europe/Dublin"
    assert app.config["MAX_EXTEND_MINUTES"] == 240  # what the file leaves out keeps its default
    assert app.extensions["safetycheck.settings_files"] == [DEFAULT_SETTINGS_PATH, settings]


def test_every_setting_with_a_derived_default_can_be_set_in_the_settings_file(make_app, tmp_path) -> None:
    """A setting the defaults leave empty is still a known key, not a typo."""
    settings = tmp_path / "settings.toml"
    settings.write_text("MAX_VISIT_TOTAL_MINUTES = 900\n")

    app = make_app(SAFETYCHECK_CONFIG_FILE=str(settings))

    assert app.config["MAX_VISIT_TOTAL_MINUTES"] == 900


def test_a_relative_settings_file_is_found_from_the_working_directory(
    make_app, monkeypatch, tmp_path
) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "settings.toml").write_text("SWEEP_INTERVAL_SECONDS = 2\n")
    monkeypatch.chdir(tmp_path)

    app = make_app(SAFETYCHECK_CONFIG_FILE="conf/settings.toml")

    assert app.config["SWEEP_INTERVAL_SECONDS"] == 2
    assert app.extensions["safetycheck.settings_files"][-1] == tmp_path / "conf" / "settings.toml"


def test_a_relative_policy_in_the_settings_file_is_read_beside_that_file(
    make_app, monkeypatch, tmp_path
) -> None:
    folder = tmp_path / "etc"
    folder.mkdir()
    (folder / "ladder.toml").write_text(DEFAULT_POLICY_PATH.read_text())
    (folder / "settings.toml").write_text('ESCALATION_POLICY = "ladder.toml"\n')
    monkeypatch.chdir(tmp_path)  # not the file's folder

    app = make_app(SAFETYCHECK_CONFIG_FILE=str(folder / "settings.toml"))

    assert app.config["ESCALATION_POLICY"] == str(folder / "ladder.toml")


def test_the_policy_variable_still_wins_over_the_settings_file(make_app, monkeypatch, tmp_path) -> None:
    (tmp_path / "settings.toml").write_text('ESCALATION_POLICY = "/nowhere/ladder.toml"\n')
    (tmp_path / "mine.toml").write_text(DEFAULT_POLICY_PATH.read_text())
    monkeypatch.chdir(tmp_path)

    app = make_app(
        SAFETYCHECK_CONFIG_FILE=str(tmp_path / "settings.toml"), SAFETYCHECK_ESCALATION_POLICY="mine.toml"
    )

    assert app.config["ESCALATION_POLICY"] == str(tmp_path / "mine.toml")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("SWEEP_INTERVAL = 2\n", "unknown setting 'SWEEP_INTERVAL' (did you mean SWEEP_INTERVAL_SECONDS?)"),
        ("sms_backend = 'twilio'\n", "unknown setting 'sms_backend' (did you mean SMS_BACKEND?)"),
        ("[database]\nurl = 'x'\n", "unknown setting 'database'"),
        ("MAX_VISIT_MINUTES = \n", "invalid TOML"),
    ],
)
def test_a_bad_settings_file_fails_naming_the_variable_and_the_key(make_app, tmp_path, text, message) -> None:
    settings = tmp_path / "settings.toml"
    settings.write_text(text)

    with pytest.raises(ConfigError) as caught:
        make_app(SAFETYCHECK_CONFIG_FILE=str(settings))

    assert str(caught.value).startswith(f"SAFETYCHECK_CONFIG_FILE: {settings}: ")
    assert message in str(caught.value)


def test_a_missing_settings_file_fails_naming_the_variable(make_app, tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"^SAFETYCHECK_CONFIG_FILE: .*nowhere\.toml: cannot read"):
        make_app(SAFETYCHECK_CONFIG_FILE=str(tmp_path / "nowhere.toml"))


def test_values_from_the_settings_file_are_checked_like_the_rest(make_app, tmp_path) -> None:
    settings = tmp_path / "settings.toml"
    settings.write_text('SMS_BACKEND = "carrier-pigeon"\n')

    with pytest.raises(ConfigError, match="SMS_BACKEND must be one of console, twilio"):
        make_app(SAFETYCHECK_CONFIG_FILE=str(settings))


def test_the_example_settings_file_in_config_is_valid(make_app) -> None:
    example = PACKAGE_DIR.parent / "config" / "settings.example.toml"

    app = make_app(
        SAFETYCHECK_CONFIG_FILE=str(example),
        SAFETYCHECK_SECRET_KEY="s" * 40,
        SAFETYCHECK_TWILIO_ACCOUNT_SID="AC" + "1" * 32,
        SAFETYCHECK_TWILIO_AUTH_TOKEN="auth-token",
    )

    assert app.config["ENV"] == "production"
    assert app.config["SMS_BACKEND"] == "twilio"
    assert app.config["SCHEDULER_ENABLED"] is False
