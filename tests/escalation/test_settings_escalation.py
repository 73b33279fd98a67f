"""Escalation settings fail fast at start-up with a message naming the setting."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from safetycheck import create_app
from safetycheck.settings import ConfigError


def _config(base_config: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    return {**base_config, **overrides}


def test_a_bad_display_timezone_stops_start_up(base_config: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match="SAFETYCHECK_DISPLAY_TIMEZONE"):
        create_app(_config(base_config, DISPLAY_TIMEZONE="Mars/Olympus"))


def test_a_bad_policy_file_stops_start_up_naming_the_key(base_config: dict[str, Any], tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(
        "[overdue]\nsteps = [{ after = -5, notify = ['practitioner'] }]\n"
        "[panic]\nsteps = [{ after = 0, notify = ['on_call'] }]\n"
        "[duress]\nsteps = [{ after = 0, notify = ['on_call'] }]\n"
    )
    with pytest.raises(ConfigError, match=r"overdue\.steps\[0\]\.after"):
        create_app(_config(base_config, ESCALATION_POLICY=str(policy)))


def test_a_missing_policy_file_stops_start_up(base_config: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="SAFETYCHECK_ESCALATION_POLICY"):
        create_app(_config(base_config, ESCALATION_POLICY=str(tmp_path / "nowhere.toml")))


def test_a_relative_policy_path_is_read_from_the_working_directory(
    base_config: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "mine.toml").write_text(
        "[overdue]\nsteps = [{ after = 0, notify = ['practitioner'] }]\n"
        "[panic]\nsteps = [{ after = 0, notify = ['on_call'] }]\n"
        "[duress]\nsteps = [{ after = 7, notify = ['on_call'] }]\n"
    )
    monkeypatch.chdir(tmp_path)
    app = create_app(_config(base_config, ESCALATION_POLICY="mine.toml"))
    assert app.extensions["safetycheck.policy"].ladders["duress"].steps[0].after == 7


@pytest.mark.parametrize(
    ("name", "value"),
    [("OUTBOX_SENDERS", 0), ("OUTBOX_SENDERS", 2.5), ("OUTBOX_SENDERS", 65), ("OUTBOX_MAX_PER_SECOND", -1)],
)
def test_a_bad_sender_pool_setting_stops_start_up(base_config: dict[str, Any], name: str, value: Any) -> None:
    with pytest.raises(ConfigError, match=f"SAFETYCHECK_{name}"):
        create_app(_config(base_config, **{name: value}))


def test_on_postgresql_the_connection_pool_keeps_a_connection_for_every_sender(
    base_config: dict[str, Any], tmp_path: Path
) -> None:
    """Each sender holds a connection while it drains; a pool smaller than the senders made
    them open a new PostgreSQL connection for nearly every text (or wait for one)."""
    url = "postgresql://postgres@127.0.0.1:5432/unused"  # nothing connects at start-up
    app = create_app(_config(base_config, DATABASE_URL=url, OUTBOX_SENDERS=32))
    assert app.config["SQLALCHEMY_ENGINE_OPTIONS"]["pool_size"] == 36
    chosen = create_app(
        _config(base_config, DATABASE_URL=url, SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 50}, OUTBOX_SENDERS=32)
    )
    assert chosen.config["SQLALCHEMY_ENGINE_OPTIONS"]["pool_size"] == 50  # an operator's choice stands
    on_sqlite = create_app(
        _config(base_config, DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}", OUTBOX_SENDERS=32)
    )
    assert "pool_size" not in on_sqlite.config["SQLALCHEMY_ENGINE_OPTIONS"]
