"""--since parsing and terminal rendering."""

from __future__ import annotations

import pytest

from reporting.render_text import MAX_CELL, table
from reporting.timespec import parse_since

NOW = 1_800_000_000_000


@pytest.mark.parametrize(
    ("text", "back_ms"),
    [("90m", 90 * 60_000), ("24h", 86_400_000), ("7d", 7 * 86_400_000), ("2w", 14 * 86_400_000),
     ("30s", 30_000), ("1.5h", 5_400_000)],
)  # fmt: skip
def test_spans_go_back_from_now(text: str, back_ms: int) -> None:
    assert parse_since(text, NOW) == NOW - back_ms


def test_iso_times_are_utc_unless_they_say_otherwise() -> None:
    assert parse_since("2024-01-01T00:00:00", NOW) == 1_704_067_200_000
    assert parse_since("2024-01-01T01:00:00+01:00", NOW) == 1_704_067_200_000


def test_a_bad_value_says_what_is_accepted() -> None:
    with pytest.raises(ValueError, match="90m, 24h, 7d"):
        parse_since("yesterday", NOW)


def test_tables_strip_terminal_control_sequences_and_cut_long_cells() -> None:
    out = table(("cmd",), [("\x1b[2Jrm -rf /\x07",), ("x" * 200,)])
    assert "\x1b" not in out and "\x07" not in out and "?[2Jrm -rf /?" in out
    assert max(len(line) for line in out.splitlines()) <= MAX_CELL + 2


def test_an_empty_table_says_so() -> None:
    assert table(("a", "b"), []) == "  (none)"
