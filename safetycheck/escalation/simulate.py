"""`safetycheck sms`: send a signed inbound text to a running service, as Twilio would.

For demos and development with the console backend: reply ACK to an escalation without a phone.
"""

from __future__ import annotations

import secrets
import urllib.error
import urllib.parse
import urllib.request

import click
from flask import current_app
from twilio.request_validator import RequestValidator


@click.command("sms")
@click.option("--from", "from_phone", required=True, help="The sender's number, e.g. +447700900002")
@click.option("--url", default=None, help="The service's base URL (default: SAFETYCHECK_PUBLIC_URL or :5000)")
@click.argument("body", nargs=-1, required=True)
def simulate_sms(from_phone: str, url: str | None, body: tuple[str, ...]) -> None:
    """Post a signed inbound SMS (e.g. `ACK K7Q2`) to /twilio/sms and print the TwiML reply."""
    base = (url or current_app.config.get("PUBLIC_URL") or "http://127.0.0.1:5000").rstrip("/")
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
        raise click.ClickException(f"cannot reach {target}: {exc.reason}") from exc
