"""The `safetycheck` command: Flask's CLI bound to create_app, with no --app or FLASK_APP to set."""

from __future__ import annotations

import importlib.metadata
import os
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from flask.cli import ScriptInfo

from safetycheck.__main__ import cli
from safetycheck.extensions import db
from safetycheck.paths import PACKAGE_DIR

SERVICE_COMMANDS = ("db", "run", "worker", "sweep", "demo", "create-admin", "sms", "config", "shell")


@pytest.fixture
def safetycheck(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Callable[..., Result]]:
    """`safetycheck(*args)` runs the command in process, configured only by the environment."""
    for name in list(os.environ):
        if name.startswith(("SAFETYCHECK_", "FLASK_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("SAFETYCHECK_DATABASE_URL", f"sqlite:///{tmp_path / 'console.sqlite3'}")
    monkeypatch.setenv("SAFETYCHECK_SCHEDULER_ENABLED", "false")
    loaded: list[ScriptInfo] = []

    def run(*args: str) -> Result:
        # The group builds its app through create_app; keep hold of it to close its engine.
        info = ScriptInfo(create_app=cli.create_app, set_debug_flag=False)
        loaded.append(info)
        return CliRunner().invoke(cli, list(args), obj=info, prog_name="safetycheck")

    yield run
    for info in loaded:
        app = info._loaded_app
        if app is not None:
            with app.app_context():
                db.engine.dispose()


def test_the_console_script_is_this_group() -> None:
    pyproject = tomllib.loads((PACKAGE_DIR.parent / "pyproject.toml").read_text())
    assert pyproject["project"]["scripts"] == {"safetycheck": "safetycheck.__main__:main"}


def test_help_lists_the_service_commands_and_no_app_option(safetycheck) -> None:
    result = safetycheck("--help")

    assert result.exit_code == 0, result.output
    listed = {line.split()[0] for line in result.output.split("Commands:")[1].splitlines() if line.strip()}
    assert set(SERVICE_COMMANDS) <= listed
    assert "--app" not in result.output  # the app is always SafetyCheck's


def test_version_is_safetycheck_s(safetycheck) -> None:
    result = safetycheck("--version")

    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"SafetyCheck, version {importlib.metadata.version('safetycheck')}")


def test_db_upgrade_then_sweep_on_a_fresh_database(safetycheck) -> None:
    upgrade = safetycheck("db", "upgrade")
    assert upgrade.exit_code == 0, upgrade.output

    swept = safetycheck("sweep")
    assert swept.exit_code == 0, swept.output
    assert swept.output.startswith("visits.mark_overdue=0 visits.remind=0 escalation.advance_steps=0 ")

    demo = safetycheck("demo")
    assert demo.exit_code == 0, demo.output
    assert "demo organisation created" in demo.output
