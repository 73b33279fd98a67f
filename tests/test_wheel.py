"""The wheel is the whole service: built from this checkout, installed into a scratch venv outside
it, run from a folder outside it, it migrates a fresh SQLite file, sweeps, and answers /readyz.

Nothing is downloaded: the wheel is built with this venv's setuptools (`--no-isolation`) and
installed without its dependencies, which the scratch venv then sees through a .pth file naming
this venv's site-packages. A .pth line only adds a folder to sys.path (the .pth files in that
folder are not run), so the editable install of the checkout cannot leak in: the tests check
that `safetycheck` is imported from the scratch venv.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

CHECKOUT = Path(__file__).resolve().parents[1]
PACKAGE = CHECKOUT / "safetycheck"
ENTRY_POINT = "safetycheck = safetycheck.__main__:main"
# Besides safetycheck/, what setuptools reads to build (pyproject names the readme).
BUILD_INPUTS = ("pyproject.toml", "README.md")

READYZ = """
import json, sys
import safetycheck
from safetycheck import create_app

app = create_app()
response = app.test_client().get("/readyz")
print(json.dumps({
    "module": safetycheck.__file__,
    "policy": app.config["ESCALATION_POLICY"],
    "status": response.status_code,
    "body": response.get_json(),
    "sys_path": sys.path,
}))
"""


def run(command: list[str | Path], *, cwd: Path, env: dict[str, str] | None = None) -> str:
    """Run a command to its end; fail the test with its output if it fails."""
    done = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"{command} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the sdist and, from it, the wheel, as a release would (`python -m build`).

    From a copy of what the build reads: a checkout's own safetycheck.egg-info would add every
    file an earlier build listed, hiding a package-data rule that no longer matches.
    """
    source = tmp_path_factory.mktemp("source")
    for name in BUILD_INPUTS:
        shutil.copy(CHECKOUT / name, source / name)
    shutil.copytree(PACKAGE, source / "safetycheck", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "build", "--no-isolation", "--outdir", out, source], cwd=out)
    (built,) = out.glob("safetycheck-*.whl")
    return built


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Path:
    """A venv outside the checkout with the wheel installed, and the dependencies borrowed."""
    venv = tmp_path_factory.mktemp("scratch") / "venv"
    assert not venv.is_relative_to(CHECKOUT)
    run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=venv.parent)
    python = venv / "bin" / "python"
    run(
        [sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", wheel],
        cwd=venv.parent,
    )
    site_packages = Path(
        run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], cwd=venv).strip()
    )
    ours = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    (site_packages / "zz-dev-dependencies.pth").write_text("".join(f"{folder}\n" for folder in sorted(ours)))
    return venv


def clean_env(**settings: str) -> dict[str, str]:
    """This environment without anything that points back at the checkout or configures the app."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("SAFETYCHECK_", "FLASK_", "PYTHON", "COV_", "COVERAGE", "VIRTUAL_ENV"))
    }
    return {**env, **settings}


def test_the_wheel_ships_every_file_of_the_package_and_the_command(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {
        path.relative_to(CHECKOUT).as_posix()
        for path in PACKAGE.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }

    # The migrations, the defaults, and whatever else lives in the package (templates, static).
    assert shipped - names == set()
    for needed in (
        "safetycheck/migrations/env.py",
        "safetycheck/migrations/alembic.ini",
        "safetycheck/migrations/script.py.mako",
        "safetycheck/migrations/versions/0001_foundation.py",
        "safetycheck/defaults/settings.toml",
        "safetycheck/defaults/escalation.toml",
        "safetycheck/defaults/escalation.demo.toml",
    ):
        assert needed in names
    assert {n for n in names if "__pycache__" in n or n.endswith(".pyc") or n.startswith("tests/")} == set()
    (entry_points,) = (n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert ENTRY_POINT in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_the_installed_wheel_migrates_sweeps_and_is_ready(scratch: Path, tmp_path: Path) -> None:
    work = tmp_path / "elsewhere"
    work.mkdir()
    assert not work.is_relative_to(CHECKOUT)
    database = work / "fresh.sqlite3"
    env = clean_env(SAFETYCHECK_DATABASE_URL=f"sqlite:///{database}", SAFETYCHECK_SCHEDULER_ENABLED="false")
    command = scratch / "bin" / "safetycheck"
    installed = scratch / "lib"

    run([command, "db", "upgrade"], cwd=work, env=env)
    assert database.is_file()

    where = run([command, "config"], cwd=work, env=env)
    for line in where.splitlines():
        # Every file the service reads is the installed copy, none the checkout's.
        assert str(CHECKOUT) not in line, where
    assert f"database:          sqlite:///{database}" in where
    assert "/site-packages/safetycheck/defaults/settings.toml" in where
    assert "/site-packages/safetycheck/migrations" in where
    assert f"instance folder:   {scratch / 'var' / 'safetycheck-instance'}" in where

    swept = run([command, "sweep"], cwd=work, env=env)
    assert swept.startswith("visits.mark_overdue=0 visits.remind=0 escalation.advance_steps=0 ")
    assert "errors=none" in swept

    ready = json.loads(run([scratch / "bin" / "python", "-c", READYZ], cwd=work, env=env))
    assert Path(ready["module"]).is_relative_to(installed), ready["module"]
    assert Path(ready["policy"]).is_relative_to(installed), ready["policy"]
    assert str(CHECKOUT) not in ready["sys_path"]
    assert ready["status"] == 200, ready["body"]
    assert ready["body"]["checks"]["sweep"]["ok"] is True
