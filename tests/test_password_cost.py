"""The tests hash passwords at argon2's lowest cost (tests/conftest.py, for speed); the
controller must still hash at the full cost, or a stolen database gives up its passwords
at that speed too."""

from __future__ import annotations

import pytest
from argon2 import Type, extract_parameters

import services.passwords
from tests.conftest import PRODUCT_HASHER


def test_the_controller_hashes_at_argon2ids_full_cost(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(services.passwords, "_hasher", PRODUCT_HASHER)
    hashed = services.passwords.hash_password("correct-horse")
    params = extract_parameters(hashed)
    assert params.type is Type.ID
    assert (params.time_cost, params.memory_cost) == (3, 64 * 1024)
    assert services.passwords.verify_password(hashed, "correct-horse")
    assert not services.passwords.verify_password(hashed, "wrong-horse")


def test_the_tests_hash_cheaply_and_check_like_the_controller() -> None:
    hashed = services.passwords.hash_password("correct-horse")
    assert extract_parameters(hashed).time_cost == 1
    # A hash names its cost: the controller's own hasher checks the tests' hashes.
    assert PRODUCT_HASHER.verify(hashed, "correct-horse")
    assert not services.passwords.verify_password(hashed, "wrong-horse")
