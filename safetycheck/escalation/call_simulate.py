"""`safetycheck call-answer`: play the person answering an escalation call, as Twilio would report it.

For demos and development with the console backend, which prints a call's script instead of
phoning: this finds the newest call to that number still on the line and posts Twilio's signed
requests to the running service (what the call says, the keypress, the status callbacks).
"""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import with_appcontext
from twilio.request_validator import RequestValidator

from safetycheck.accounts.phones import normalise_phone
from safetycheck.errors import ValidationFailed
from safetycheck.escalation.call_models import CallOutboxRow
from safetycheck.escalation.enums import OutboxStatus
from safetycheck.escalation.simulate import service_url
from safetycheck.extensions import db

OUTCOMES = ("answer", "silence", "voicemail", "busy", "no-answer", "failed")


@click.command("call-answer")
@click.argument("phone")
@click.argument("key", required=False)
@click.option(
    "--outcome",
    type=click.Choice(OUTCOMES),
    default=None,
    help="What happens on the line (default: answer when KEY is given, else silence).",
)
@click.option("--url", default=None, help="The service's base URL (as for `sms`).")
@with_appcontext
def call_answer(phone: str, key: str | None, outcome: str | None, url: str | None) -> None:
    """Answer the newest escalation call to PHONE and press KEY (1 takes charge)."""
    if key is not None and (len(key) != 1 or key not in "0123456789*#"):
        raise click.BadParameter("one key: 0-9, * or #", param_hint="KEY")
    outcome = outcome or ("answer" if key else "silence")
    if key and outcome != "answer":
        raise click.BadParameter("a KEY is pressed only on an answered call", param_hint="--outcome")
    try:
        number = normalise_phone(phone, default_region=current_app.config["DEFAULT_PHONE_REGION"])
    except ValidationFailed as exc:
        raise click.BadParameter(str(exc), param_hint="PHONE") from exc
    call = db.session.scalar(
        sa.select(CallOutboxRow)
        .where(
            CallOutboxRow.to_phone == number,
            CallOutboxRow.status == OutboxStatus.SENT,
            CallOutboxRow.ended_at.is_(None),
        )
        .order_by(CallOutboxRow.id.desc())
        .limit(1)
    )
    if call is None or call.sid is None:
        raise click.ClickException(f"no call to {number} is ringing")
    call_id, call_sid = call.id, call.sid
    db.session.close()  # hold no transaction while the service writes
    base, source = service_url(current_app, url)
    token = current_app.config.get("TWILIO_AUTH_TOKEN")
    if not token:
        raise click.ClickException("no SAFETYCHECK_TWILIO_AUTH_TOKEN to sign with")
    common = {
        "CallSid": call_sid,
        "AccountSid": current_app.config.get("TWILIO_ACCOUNT_SID") or "AC" + "0" * 32,
        "From": current_app.config.get("TWILIO_FROM_NUMBER") or "+447700900999",
        "To": number,
        "ApiVersion": "2010-04-01",
    }
    prefix = f"{base}/twilio/voice/{call_id}"

    def post(target: str, extra: dict[str, str]) -> None:
        params = {**common, **extra}
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
                f"cannot reach {target} (from {source}): {exc.reason}; is the service running? Give --url."
            ) from exc

    if outcome in ("busy", "no-answer", "failed"):
        post(f"{prefix}/status", {"CallStatus": outcome})
        return
    answered_by = "machine_end_beep" if outcome == "voicemail" else "human"
    post(f"{prefix}/status", {"CallStatus": "in-progress", "AnsweredBy": answered_by})
    post(prefix, {"CallStatus": "in-progress", "AnsweredBy": answered_by})
    if key is not None:
        post(f"{prefix}/gather", {"CallStatus": "in-progress", "Digits": key})
    post(f"{prefix}/status", {"CallStatus": "completed", "AnsweredBy": answered_by, "CallDuration": "20"})
