"""What the real adapter reads from the engine's inspect answer (recorded from Docker 20.10)."""

from __future__ import annotations

import json
from pathlib import Path

from enforcer.engine import state_from_inspect

DATA = Path(__file__).parent / "testdata"


def test_a_paused_container_created_with_nano_cpus() -> None:
    state = state_from_inspect(json.loads((DATA / "inspect_paused_nanocpus.json").read_text()))
    assert state.status == "paused"
    assert state.paused and state.alive
    assert state.nano_cpus == 500_000_000
    assert (state.cpu_quota_us, state.period_us) == (0, 100_000)
    assert state.memory_bytes == state.memory_swap_bytes == 64 * 1024 * 1024
    assert state.pids_limit == 20
    assert state.labels["sandguard.sandbox"] == "demo"
    assert state.name == "sg-enforcer-testdata"
    assert len(state.id) == 64


def test_an_exited_container_with_a_quota_and_no_pids_limit() -> None:
    state = state_from_inspect(json.loads((DATA / "inspect_exited_quota.json").read_text()))
    assert state.status == "exited"
    assert not state.alive
    assert (state.cpu_quota_us, state.cpu_period_us) == (30_000, 100_000)
    assert state.pids_limit == 0  # null in inspect: unlimited


def test_a_paused_flag_on_a_running_status_is_read_as_paused() -> None:
    raw = {"Id": "a" * 64, "State": {"Status": "running", "Paused": True}, "HostConfig": {}, "Config": {}}
    assert state_from_inspect(raw).paused
