from __future__ import annotations

from sandbox.engine_events import parse_event


def test_a_die_event_is_parsed_with_its_exit_code() -> None:
    raw = {
        "Type": "container",
        "Action": "die",
        "id": "abc",
        "time": 1700000000,
        "timeNano": 1700000000123456789,
        "Actor": {"ID": "abc", "Attributes": {"exitCode": "137", "sandguard.manager": "m1"}},
    }
    ev = parse_event(raw)
    assert ev is not None and (ev.container_id, ev.action, ev.exit_code) == ("abc", "die", 137)
    assert ev.time_ns == 1700000000123456789


def test_other_events_are_skipped() -> None:
    assert parse_event({"Type": "network", "id": "n"}) is None
    assert parse_event({"Type": "container"}) is None
    ev = parse_event({"Type": "container", "id": "a", "status": "exec_die: sh", "time": 5})
    assert ev is not None and ev.action == "exec_die" and ev.exit_code is None and ev.time_ns == 5 * 10**9
