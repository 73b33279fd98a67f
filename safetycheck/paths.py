"""Where the files that ship inside the package are: found next to the code, so a checkout and an
installed wheel read the same migrations and defaults, whatever the working directory."""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULTS_DIR = PACKAGE_DIR / "defaults"
MIGRATIONS_DIR = PACKAGE_DIR / "migrations"

DEFAULT_SETTINGS_PATH = DEFAULTS_DIR / "settings.toml"
DEFAULT_POLICY_PATH = DEFAULTS_DIR / "escalation.toml"
# The default ladder compressed into minutes, for `./dev run`; never for production.
DEMO_POLICY_PATH = DEFAULTS_DIR / "escalation.demo.toml"
