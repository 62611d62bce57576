from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

from sandbox.engine_events import events_path, parse_event


def test_a_die_event_is_parsed_with_its_exit_code() -> None:
    line = json.dumps(
        {
            "Type": "container",
            "Action": "die",
            "id": "abc",
            "time": 1700000000,
            "timeNano": 1700000000123456789,
            "Actor": {"ID": "abc", "Attributes": {"exitCode": "137", "sandguard.manager": "m1"}},
        }
    ).encode()
    ev = parse_event(line)
    assert ev is not None and (ev.container_id, ev.action, ev.exit_code) == ("abc", "die", 137)
    assert ev.time_ns == 1700000000123456789


def test_other_lines_are_skipped() -> None:
    assert parse_event(b"not json") is None
    assert parse_event(json.dumps({"Type": "network", "id": "n"}).encode()) is None
    ev = parse_event(
        json.dumps({"Type": "container", "id": "a", "status": "exec_die: sh", "time": 5}).encode()
    )
    assert ev is not None and ev.action == "exec_die" and ev.exit_code is None and ev.time_ns == 5 * 10**9


def test_the_path_filters_our_containers_since_a_time() -> None:
    query = parse_qs(urlsplit(events_path("sandguard.manager=m1", 1_700_000_000_000_000_123)).query)
    assert query["since"] == ["1700000000.000000123"]
    filters = json.loads(query["filters"][0])
    assert filters["label"] == ["sandguard.manager=m1"] and "die" in filters["event"]
