"""Phone numbers as E.164, because Twilio and inbound-SMS matching both need one exact form."""

from __future__ import annotations

import phonenumbers

from safetycheck.errors import ValidationFailed

# Ofcom keeps 07700 900000 to 900999 for drama and documentation; phonenumbers calls them invalid,
# but they are what demos, tests and the API contract's examples use, and can never reach a person.
_DRAMA_PREFIX = "+447700900"


def phone_hint(default_region: str = "GB") -> str:
    """What to type, in our words (the phone library's own messages mean nothing to an admin)."""
    example = phonenumbers.example_number_for_type(default_region, phonenumbers.PhoneNumberType.MOBILE)
    local = ""
    if default_region == "GB":
        local = ", or a UK number like 07700 900123"
    elif example is not None:
        national = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.NATIONAL)
        local = f", or a national number like {national}"
    return f"Enter a mobile number in international format, like +447700900123{local}."


def normalise_phone(raw: str, *, default_region: str = "GB", field: str = "phone") -> str:
    """Parse a typed number (`07700 900123`, `+44 7700 900123`) into E.164 or raise naming `field`."""
    invalid = ValidationFailed("Invalid phone number.", {field: [phone_hint(default_region)]})
    try:
        parsed = phonenumbers.parse(raw, None if raw.strip().startswith("+") else default_region)
    except phonenumbers.NumberParseException as exc:
        raise invalid from exc
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    drama = e164.startswith(_DRAMA_PREFIX) and len(e164) == len(_DRAMA_PREFIX) + 3
    if not (phonenumbers.is_valid_number(parsed) or drama):
        raise invalid
    return e164
