"""Password hashing is argon2id, salted, and verification fails closed."""

from __future__ import annotations

from hub.auth.service import hash_password, verify_password


def test_hash_is_salted_argon2id_and_verifies() -> None:
    h1, h2 = hash_password("s3cret-pass"), hash_password("s3cret-pass")
    assert h1.startswith("$argon2id$")
    assert h1 != h2
    assert verify_password(h1, "s3cret-pass")
    assert not verify_password(h1, "s3cret-pasS")


def test_garbage_hash_does_not_verify() -> None:
    assert not verify_password("not-a-hash", "anything")
    assert not verify_password("", "")
