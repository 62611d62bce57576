"""DetailedError: an error's data declared once, its constructor and message made from it."""

from __future__ import annotations

import pytest

from schemas.exceptions import DetailedError


class RootError(Exception):
    """A package's root, what callers catch."""


class QuotaError(RootError, DetailedError):
    """A test error with two fields and a default."""

    container_id: str
    used: int
    unit: str = "MiB"
    template = "{container_id:.12}: {used} {unit} over quota"


def test_fields_become_attributes_and_the_message_is_the_template() -> None:
    err = QuotaError("0123456789abcdef", 300)
    assert (err.container_id, err.used, err.unit) == ("0123456789abcdef", 300, "MiB")
    assert str(err) == "0123456789ab: 300 MiB over quota"
    assert err.args == ("0123456789ab: 300 MiB over quota",)
    assert repr(err) == "QuotaError('0123456789ab: 300 MiB over quota')"
    assert str(QuotaError(container_id="c", used=1, unit="KiB")) == "c: 1 KiB over quota"


def test_the_package_root_still_catches_it_and_it_stays_an_error() -> None:
    with pytest.raises(RootError, match="over quota") as info:
        raise QuotaError("c", 1)
    assert info.value != QuotaError("c", 1)  # errors are not values: identity, not fields
    assert hash(info.value)


def test_a_missing_field_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="used"):
        QuotaError("c")  # type: ignore[call-arg]
