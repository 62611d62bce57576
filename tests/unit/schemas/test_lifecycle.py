"""The lifecycle states' strings are public (logs, health output, errors): pinned."""

from __future__ import annotations

from schemas import Lifecycle


def test_the_states_keep_their_strings() -> None:
    assert [s.value for s in Lifecycle] == ["new", "running", "stopping", "stopped", "failed"]


def test_a_state_equals_its_string_and_formats_as_it() -> None:
    assert Lifecycle.STOPPED == "stopped" and f"{Lifecycle.FAILED}" == "failed"
