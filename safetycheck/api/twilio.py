"""Twilio webhooks: inbound texts (`/twilio/sms`) and delivery status (`/twilio/status`).

Every request must carry a valid `X-Twilio-Signature` computed over SAFETYCHECK_PUBLIC_URL (the
URL Twilio called, not the one a proxy forwarded to us); anything else gets 403 and changes
nothing. Answers are TwiML.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

from flask import Blueprint, Response, abort, current_app, request
from twilio.request_validator import RequestValidator

from safetycheck import limits, localtime
from safetycheck.accounts.phones import normalise_phone
from safetycheck.api.auth import now
from safetycheck.errors import ValidationFailed
from safetycheck.escalation import commands
from safetycheck.escalation.context import escalation_for
from safetycheck.escalation.sweep_parts import apply_delivery_status
from safetycheck.extensions import db

blp = Blueprint("twilio", __name__, url_prefix="/twilio")


def _twiml(message: str | None = None) -> Response:
    inner = f"<Message>{escape(message)}</Message>" if message else ""
    return Response(
        f'<?xml version="1.0" encoding="UTF-8"?><Response>{inner}</Response>', mimetype="text/xml"
    )


def _verify() -> None:
    """403 unless Twilio signed exactly this request with our auth token.

    A flood is counted per address before the signature is checked (refusing it costs nothing);
    per sender only after, so forged requests cannot use up a real person's allowance.
    """
    limits.enforce("RATELIMIT_WEBHOOK_PER_ADDRESS", limits.remote_address())
    token = current_app.config.get("TWILIO_AUTH_TOKEN")
    signature = request.headers.get("X-Twilio-Signature", "")
    if not token or not signature:
        abort(403)
    public = current_app.config.get("PUBLIC_URL")
    url = f"{public}{request.full_path if request.query_string else request.path}" if public else request.url
    params = request.form.to_dict(flat=True)
    if not RequestValidator(token).validate(url, params, signature):
        abort(403)
    account = current_app.config.get("TWILIO_ACCOUNT_SID")
    if account and request.form.get("AccountSid") not in (None, account):
        abort(403)


@blp.post("/sms")
def inbound_sms() -> Response:
    """A text from a phone: ACK <code>, OK, EXT <minutes>, HELP or SOS."""
    _verify()
    sid = request.form.get("MessageSid") or request.form.get("SmsSid")
    sender = request.form.get("From", "")
    if not sid or not sender:
        abort(400)
    limits.enforce("RATELIMIT_WEBHOOK_PER_SENDER", sender)
    try:
        from_phone = normalise_phone(sender, default_region=current_app.config["DEFAULT_PHONE_REGION"])
    except ValidationFailed:
        from_phone = sender[:20]
    reply = commands.handle_inbound(
        message_sid=sid,
        from_phone=from_phone,
        body=request.form.get("Body", ""),
        now=now(),
        max_extend=current_app.config["MAX_EXTEND_MINUTES"],
        max_visit_total=current_app.config["MAX_VISIT_TOTAL_MINUTES"],
        tz=localtime.zone(),
        may_start_ladder=limits.panic_ladder_allowed,
    )
    db.session.commit()
    return _twiml(reply.text)


@blp.post("/status")
def delivery_status() -> Response:
    """Twilio tells us a text was delivered, or not; a dead number moves the ladder on."""
    _verify()
    sid = request.form.get("MessageSid") or request.form.get("SmsSid")
    status = request.form.get("MessageStatus") or request.form.get("SmsStatus")
    if not sid or not status:
        abort(400)
    raw_code = request.form.get("ErrorCode")
    error_code = int(raw_code) if raw_code and raw_code.isdigit() else None
    apply_delivery_status(escalation_for(current_app), sid=sid, status=status, error_code=error_code)
    db.session.commit()
    return _twiml()
