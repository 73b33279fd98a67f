"""Phone numbers become E.164, because Twilio and inbound-SMS matching need one exact form."""

from __future__ import annotations

import pytest

from safetycheck.accounts.phones import normalise_phone
from safetycheck.errors import ValidationFailed


@pytest.mark.parametrize(
    ("typed", "e164"),
    [
        ("07700 900123", "+447700900123"),
        ("07700900123", "+447700900123"),
        ("+447700900123", "+447700900123"),
        ("+44 7700 900 123", "+447700900123"),
        ("0044 7700 900123", "+447700900123"),
        ("07911 123456", "+447911123456"),
        ("020 7946 0000", "+442079460000"),
        ("+1 (650) 253-0000", "+16502530000"),
        ("  07700 900000 ", "+447700900000"),
        ("07700 900999", "+447700900999"),
    ],
)
def test_typed_numbers_become_e164(typed, e164) -> None:
    assert normalise_phone(typed) == e164


def test_drama_numbers_are_accepted_though_phonenumbers_calls_them_invalid() -> None:
    # Ofcom's 07700 900000-900999 never reach a person; demos and the contract use them.
    import phonenumbers

    assert not phonenumbers.is_valid_number(phonenumbers.parse("+447700900123"))
    assert normalise_phone("+447700900123") == "+447700900123"


@pytest.mark.parametrize("typed", ["07700 9001", "07700 9001234", "+4477009001234"])
def test_only_the_real_drama_range_is_accepted(typed) -> None:
    with pytest.raises(ValidationFailed):
        normalise_phone(typed)


def test_the_default_region_reads_national_numbers() -> None:
    assert normalise_phone("(650) 253-0000", default_region="US") == "+16502530000"
    assert normalise_phone("+447700900123", default_region="US") == "+447700900123"


@pytest.mark.parametrize("typed", ["", "   ", "abc", "12345", "+999 123", "0770090012345678"])
def test_invalid_numbers_name_the_field(typed) -> None:
    with pytest.raises(ValidationFailed) as caught:
        normalise_phone(typed, field="mobile")
    assert caught.value.http_status == 422
    assert list(caught.value.errors) == ["mobile"]


@pytest.mark.parametrize("typed", ["abc", "12345", "+999 123", "0770090012345678", "+447700"])
def test_invalid_numbers_are_explained_in_our_words(typed) -> None:
    """Not phonenumbers' "(1) The string supplied did not seem to be a phone number"."""
    with pytest.raises(ValidationFailed) as caught:
        normalise_phone(typed)
    assert caught.value.errors == {
        "phone": [
            "Enter a mobile number in international format, like +447700900123, "
            "or a UK number like 07700 900123."
        ]
    }


def test_the_hint_follows_the_default_region() -> None:
    with pytest.raises(ValidationFailed) as caught:
        normalise_phone("12", default_region="US")
    [hint] = caught.value.errors["phone"]
    assert "UK" not in hint
    assert "like +447700900123, or a national number like " in hint
