"""The lifecycle states' strings are public (logs, health output, errors): pinned."""

from __future__ import annotations

from schemas import Lifecycle


def test_the_states_keep_their_strings() -> None:
    assert [s.value for s in Lifecycle] == ["new", "running", "stopping", "stopped", "failed"]


def test_a_state_is_its_string() -> None:
    state: str = Lifecycle.STOPPED
    assert state == "stopped" and f"{Lifecycle.FAILED}" == "failed" and Lifecycle("new") is Lifecycle.NEW
