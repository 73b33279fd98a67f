"""`safetycheck sms`: send a signed inbound text to a running service, as Twilio would.

For demos and development with the console backend: reply ACK to an escalation without a phone.
"""

from __future__ import annotations

import os
import secrets
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from twilio.request_validator import RequestValidator

# `./dev run` writes the URL it serves on here, so a second terminal finds it on any port.
RUN_URL_FILE = "dev-run-url"


def service_url(app: Flask, given: str | None = None) -> tuple[str, str]:
    """The base URL of the running service, and where it came from.

    In order: `--url`; SAFETYCHECK_PUBLIC_URL (the URL the service checks signatures against);
    the URL `./dev run` recorded in the instance folder; FLASK_RUN_HOST and FLASK_RUN_PORT;
    `flask run`'s default, http://127.0.0.1:5000.
    """
    if given:
        return given.rstrip("/"), "--url"
    if app.config.get("PUBLIC_URL"):
        return app.config["PUBLIC_URL"].rstrip("/"), "SAFETYCHECK_PUBLIC_URL"
    recorded = Path(app.instance_path) / RUN_URL_FILE
    if recorded.is_file() and recorded.read_text().strip():
        return recorded.read_text().strip().rstrip("/"), f"{recorded}, written by ./dev run"
    host, port = os.environ.get("FLASK_RUN_HOST"), os.environ.get("FLASK_RUN_PORT")
    if host or port:
        return f"http://{host or '127.0.0.1'}:{port or 5000}", "FLASK_RUN_HOST/FLASK_RUN_PORT"
    return "http://127.0.0.1:5000", "the default of flask run"


@click.command("sms")
@click.option("--from", "from_phone", required=True, help="The sender's number, e.g. +447700900002")
@click.option(
    "--url",
    default=None,
    help="The service's base URL (default: SAFETYCHECK_PUBLIC_URL, else the URL ./dev run serves on, "
    "else FLASK_RUN_HOST/FLASK_RUN_PORT, else http://127.0.0.1:5000)",
)
@click.argument("body", nargs=-1, required=True)
@with_appcontext
def simulate_sms(from_phone: str, url: str | None, body: tuple[str, ...]) -> None:
    """Post a signed inbound SMS (e.g. `ACK K7Q2`) to /twilio/sms and print the TwiML reply."""
    base, source = service_url(current_app, url)
    target = f"{base}/twilio/sms"
    params = {
        "MessageSid": "SM" + secrets.token_hex(16),
        "AccountSid": current_app.config.get("TWILIO_ACCOUNT_SID") or "AC" + "0" * 32,
        "From": from_phone,
        "To": current_app.config.get("TWILIO_FROM_NUMBER") or "+447700900999",
        "Body": " ".join(body),
    }
    token = current_app.config.get("TWILIO_AUTH_TOKEN")
    if not token:
        raise click.ClickException("no SAFETYCHECK_TWILIO_AUTH_TOKEN to sign with")
    signature = RequestValidator(token).compute_signature(target, params)
    request = urllib.request.Request(
        target,
        data=urllib.parse.urlencode(params).encode(),
        headers={"X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            click.echo(response.read().decode())
    except urllib.error.HTTPError as exc:
        raise click.ClickException(f"{exc.code} from {target}: {exc.read().decode()[:200]}") from exc
    except urllib.error.URLError as exc:
        raise click.ClickException(
            f"cannot reach {target} (from {source}): {exc.reason}; is the service running? "
            "Give its address with --url."
        ) from exc
