"""Twilio voice webhooks for escalation calls: what a call says, the keypress, the call's progress.

`POST /twilio/voice/<call>` answers TwiML that reads the alarm out and gathers one key;
`POST /twilio/voice/<call>/gather` takes the key (only 1 takes charge); `POST
/twilio/voice/<call>/status` records initiated, ringing, answered and completed (and busy,
no-answer, failed) with AnsweredBy. Every request must carry a valid `X-Twilio-Signature` over
SAFETYCHECK_PUBLIC_URL (as for texts, `api/twilio.py`): anything else gets 403 and changes nothing.
"""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from flask import Blueprint, Response, abort, current_app, request

from safetycheck import localtime
from safetycheck.api.auth import now
from safetycheck.api.twilio import _verify
from safetycheck.escalation import call_line
from safetycheck.extensions import db

blp = Blueprint("twilio_voice", __name__, url_prefix="/twilio/voice")
# Voice and language for <Say>; British English, as the people called read their texts.
SAY = 'voice="alice" language="en-GB"'
GATHER_SECONDS = 8


def _twiml(reply: call_line.CallReply, call_id: int) -> Response:
    spoken = "".join(f"<Say {SAY}>{escape(line)}</Say>" for line in reply.say)
    if reply.gather is None:
        inner = f"{spoken}<Hangup/>"
    else:
        action = quoteattr(f"{current_app.config.get('PUBLIC_URL') or ''}/twilio/voice/{call_id}/gather")
        gather = (
            f'<Gather numDigits="1" action={action} method="POST" timeout="{GATHER_SECONDS}">'
            f"{spoken}<Say {SAY}>{escape(reply.gather)}</Say></Gather>"
        )
        after = f"<Say {SAY}>{escape(reply.after_gather)}</Say>" if reply.after_gather else ""
        inner = f"{gather}{after}<Hangup/>"
    return Response(
        f'<?xml version="1.0" encoding="UTF-8"?><Response>{inner}</Response>', mimetype="text/xml"
    )


def _empty() -> Response:
    return Response('<?xml version="1.0" encoding="UTF-8"?><Response/>', mimetype="text/xml")


@blp.post("/<id:call_id>")
def call_answered(call_id: int) -> Response:
    """Twilio asks what to say: the alarm, then "press 1 to take charge"."""
    _verify()
    reply = call_line.answer(
        call_id,
        call_sid=request.form.get("CallSid"),
        answered_by=request.form.get("AnsweredBy"),
        now=now(),
        tz=localtime.zone(),
    )
    if reply is None:
        abort(404)
    db.session.commit()
    return _twiml(reply, call_id)


@blp.post("/<id:call_id>/gather")
def call_keypress(call_id: int) -> Response:
    """The key pressed during the call: 1 takes charge, as ACK by text would."""
    _verify()
    reply = call_line.keypress(
        call_id,
        call_sid=request.form.get("CallSid"),
        digits=request.form.get("Digits", ""),
        answered_by=request.form.get("AnsweredBy"),
        now=now(),
        tz=localtime.zone(),
    )
    if reply is None:
        abort(404)
    db.session.commit()
    return _twiml(reply, call_id)


@blp.post("/<id:call_id>/status")
def call_status(call_id: int) -> Response:
    """Twilio reports the call's progress; unanswered, busy or failed moves the ladder on."""
    _verify()
    status = request.form.get("CallStatus")
    if not status:
        abort(400)
    raw = request.form.get("CallDuration") or request.form.get("Duration")
    known = call_line.apply_call_status(
        call_id,
        call_sid=request.form.get("CallSid"),
        status=status,
        answered_by=request.form.get("AnsweredBy"),
        duration=int(raw) if raw and raw.isdigit() and len(raw) < 7 else None,
        now=now(),
        rules=current_app.extensions["safetycheck.policy"],
    )
    if not known:
        abort(404)
    db.session.commit()
    return _empty()
