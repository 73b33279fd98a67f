"""Passwords and PINs are argon2 hashes; tokens are stored as SHA-256 digests only."""

from __future__ import annotations

import hashlib

from safetycheck.accounts import secrets


def test_hash_and_verify() -> None:
    stored = secrets.hash_secret("correct horse")

    assert stored.startswith("$argon2id$")
    assert "correct horse" not in stored
    assert secrets.verify_secret(stored, "correct horse")
    assert not secrets.verify_secret(stored, "correct horsE")
    assert secrets.hash_secret("correct horse") != stored  # salted


def test_no_hash_never_verifies() -> None:
    assert not secrets.verify_secret(None, "anything")
    assert not secrets.verify_secret(None, "")


def test_a_corrupt_hash_does_not_verify() -> None:
    assert not secrets.verify_secret("not-a-hash", "anything")


def test_tokens_are_random_and_only_their_digest_is_kept() -> None:
    token, digest = secrets.new_token()
    other, _ = secrets.new_token()

    assert token != other
    assert len(token) >= 43  # 32 random bytes, url-safe base64
    assert digest == hashlib.sha256(token.encode()).hexdigest() == secrets.token_digest(token)
    assert token not in digest
