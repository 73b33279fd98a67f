"""The `safetycheck` command (and `python -m safetycheck`): Flask's CLI bound to create_app().

`safetycheck db upgrade` is `flask --app safetycheck db upgrade` without naming the app, so an
installed wheel needs no checkout and no FLASK_APP. Both spellings run the same commands.
"""

from __future__ import annotations

import click
from flask.cli import FlaskGroup

from safetycheck import create_app

cli = FlaskGroup(
    name="safetycheck",
    create_app=create_app,
    add_version_option=False,  # Flask's would print Flask's version
    help=(
        "SafetyCheck: lone-worker safety for home visits. Settings: the packaged defaults, then "
        "the file SAFETYCHECK_CONFIG_FILE names, then SAFETYCHECK_* variables (`safetycheck config`)."
    ),
)
# The app is always SafetyCheck's: an --app option here would be read and then ignored.
cli.params = [param for param in cli.params if param.name != "app"]
click.version_option(package_name="safetycheck", prog_name="SafetyCheck")(cli)


def main() -> None:
    """Run the command line (the console script's entry point)."""
    cli.main(prog_name="safetycheck")


if __name__ == "__main__":
    main()
