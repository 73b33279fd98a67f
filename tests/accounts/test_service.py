"""Account rules below the API: sign-in, token lifetime, revocation and PINs."""

from __future__ import annotations

from datetime import timedelta

import pytest

from safetycheck.accounts import service as account_service
from safetycheck.accounts.enums import Role
from safetycheck.errors import Conflict, ValidationFailed
from tests import factories

TTL = timedelta(days=30)


def test_authenticate_issues_a_token_that_resolves_to_the_user(ctx, clock, org) -> None:
    issued = account_service.authenticate(
        email=org.practitioner.email, password=factories.PASSWORD, device=" phone ", now=clock.now(), ttl=TTL
    )

    assert issued.record.device == "phone"
    assert issued.record.expires_at == clock.now() + TTL
    user, token = account_service.user_for_token(issued.token, now=clock.now())
    assert user.id == org.practitioner.id
    assert token.id == issued.record.id


def test_a_token_records_when_it_was_last_used_at_minute_precision(ctx, clock, org) -> None:
    issued = account_service.authenticate(
        email=org.practitioner.email, password=factories.PASSWORD, device="x", now=clock.now(), ttl=TTL
    )
    _, token = account_service.user_for_token(issued.token, now=clock.now())
    assert token.last_used_at == clock.now()

    first = clock.now()
    clock.advance(seconds=30)
    account_service.user_for_token(issued.token, now=clock.now())
    assert token.last_used_at == first  # not rewritten on every request
    clock.advance(seconds=31)
    account_service.user_for_token(issued.token, now=clock.now())
    assert token.last_used_at == clock.now()


def test_expired_and_revoked_tokens_resolve_to_nobody(ctx, clock, org) -> None:
    expiring = account_service.authenticate(
        email=org.practitioner.email, password=factories.PASSWORD, device="a", now=clock.now(), ttl=TTL
    )
    revoked = account_service.authenticate(
        email=org.practitioner.email, password=factories.PASSWORD, device="b", now=clock.now(), ttl=TTL
    )
    account_service.revoke_token(revoked.record.id, now=clock.now())

    assert account_service.user_for_token(revoked.token, now=clock.now()) is None
    assert account_service.user_for_token(expiring.token, now=clock.now() + TTL) is None
    assert account_service.user_for_token("made-up", now=clock.now()) is None


def test_revoke_all_counts_only_live_tokens(ctx, clock, org) -> None:
    for device in ("a", "b", "c"):
        account_service.authenticate(
            email=org.colleague.email, password=factories.PASSWORD, device=device, now=clock.now(), ttl=TTL
        )
    assert account_service.revoke_all_tokens(org.colleague.id, now=clock.now()) == 3
    assert account_service.revoke_all_tokens(org.colleague.id, now=clock.now()) == 0


def test_wrong_password_and_unknown_email_raise_the_same_error(ctx, clock, org) -> None:
    errors = []
    for email, password in ((org.practitioner.email, "wrong password"), ("nobody@example.test", "x")):
        with pytest.raises(ValidationFailed) as caught:
            account_service.authenticate(email=email, password=password, device="x", now=clock.now(), ttl=TTL)
        errors.append((caught.value.message, caught.value.errors))
    assert errors[0] == errors[1]


def test_duress_pin_is_checked_against_its_hash(ctx, org) -> None:
    user = account_service.get_user(org.practitioner.id)  # factory PIN 9911
    assert account_service.is_duress_pin(user, "9911")
    assert not account_service.is_duress_pin(user, "1199")
    colleague = account_service.get_user(org.colleague.id)  # no PIN set
    assert not account_service.is_duress_pin(colleague, "9911")


def test_users_are_created_with_rules_the_api_and_cli_share(ctx, clock, org) -> None:
    base = {
        "name": "N",
        "email": "n@example.test",
        "phone": "+447700900555",
        "role": Role.PRACTITIONER,
        "team_id": org.team.id,
        "password": "long enough password",
        "now": clock.now(),
    }
    with pytest.raises(ValidationFailed, match="Password"):
        account_service.create_user(**{**base, "password": "short"})
    with pytest.raises(ValidationFailed) as caught:
        account_service.create_user(**{**base, "duress_pin": "12"})
    assert "pin" in caught.value.errors
    with pytest.raises(Conflict):
        account_service.create_user(**{**base, "email": org.admin.email.upper()})
    user = account_service.create_user(**{**base, "email": " N@Example.TEST "})
    assert user.email == "n@example.test"


@pytest.mark.parametrize("name", ["", "   ", "\t"])
def test_blank_names_are_refused_by_the_service_too(ctx, clock, name) -> None:
    """Not only the API: the CLI and anything else creating people and teams goes through here."""
    with pytest.raises(ValidationFailed) as team_error:
        account_service.create_team(name=name, now=clock.now())
    with pytest.raises(ValidationFailed) as user_error:
        account_service.create_user(
            name=name,
            email="n@example.test",
            phone="+447700900555",
            role=Role.HS_LEAD,
            team_id=None,
            password="long enough password",
            now=clock.now(),
        )
    assert list(team_error.value.errors) == list(user_error.value.errors) == ["name"]


@pytest.mark.parametrize("pin", ["\u0661\u0662\u0663\u0664", "1234\n", "12 34"])
def test_only_ascii_digits_make_a_duress_pin(ctx, org, pin) -> None:
    with pytest.raises(ValidationFailed):
        account_service.set_duress_pin(org.colleague.id, pin=pin)
