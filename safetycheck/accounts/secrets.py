"""Password, PIN and token hashing."""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# Interactive logins and PIN checks happen on a phone tap; these parameters keep a check near
# 50 ms on two cores while staying memory-hard.
_hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
# A hash of nothing in particular, checked against when there is no real hash, so that a wrong
# email and a wrong password (or no duress PIN and a wrong one) take the same time.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


def hash_secret(value: str) -> str:
    return _hasher.hash(value)


def verify_secret(stored_hash: str | None, value: str) -> bool:
    """Check a password or PIN; always does the same work, whether or not a hash exists."""
    try:
        ok = _hasher.verify(stored_hash or _DUMMY_HASH, value)
    except (VerificationError, InvalidHashError):
        return False
    return ok and stored_hash is not None


def new_token() -> tuple[str, str]:
    """Return a fresh bearer token and the digest to store."""
    token = secrets.token_urlsafe(32)
    return token, token_digest(token)


def token_digest(token: str) -> str:
    # Tokens carry 256 random bits, so a fast hash is enough; argon2 would slow every request.
    return hashlib.sha256(token.encode()).hexdigest()


def use_fast_hashing_for_tests() -> None:
    """Cheap argon2 parameters for test suites that create hundreds of users."""
    global _hasher, _DUMMY_HASH
    _hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    _DUMMY_HASH = _hasher.hash("dummy")
