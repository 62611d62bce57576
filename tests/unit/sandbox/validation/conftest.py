"""Fixtures of the validation tests: policies built from the defaults with overrides."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from schemas import SecurityPolicy

PolicyFactory = Callable[..., SecurityPolicy]


@pytest.fixture
def make_policy() -> PolicyFactory:
    """A policy with the seed's defaults, any field overridden by keyword."""

    def make(**overrides: Any) -> SecurityPolicy:
        return SecurityPolicy(**overrides)

    return make


@pytest.fixture
def policy(make_policy: PolicyFactory) -> SecurityPolicy:
    return make_policy()
