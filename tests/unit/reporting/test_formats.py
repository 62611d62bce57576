"""One format per kind of number across the report."""

from __future__ import annotations

import pytest

from reporting import formats as f


@pytest.mark.parametrize(
    ("ms", "text"),
    [(None, "-"), (125, "125 ms"), (1000, "1 s"), (2154, "2.2 s"), (42_000, "42 s"), (60_000, "1 min"),
     (725_000, "12 min 5 s"), (12_000_000, "3 h 20 min"), (3_600_000, "1 h"), (187_200_000, "2 d 4 h")],
)  # fmt: skip
def test_durations_use_the_two_largest_units(ms: int | None, text: str) -> None:
    assert f.duration(ms) == text


def test_counts_and_measures() -> None:
    assert f.count(1234567) == "1,234,567" and f.count(None) == "-"
    assert f.number(25.0) == "25" and f.number(22.86) == "22.9" and f.number(1024.0, 0) == "1,024"
    assert f.mib(128 * f.MB) == "128.0 MiB"
    assert f.on_off(True) == "on" and f.on_off(False) == "off" and f.on_off(None) == "-"
    assert f.plural(1, "finding") == "1 finding" and f.plural(3, "sandbox", "sandboxes") == "3 sandboxes"


def test_instants_in_utc() -> None:
    ms = 1_795_822_631_108  # 2026-11-27 23:37:11.108 UTC
    assert f.utc(ms) == ("2026-11-27", "23:37:11") and f.utc(None) == ("", "-")
    assert f.clock_ms(ms) == "23:37:11.108"
