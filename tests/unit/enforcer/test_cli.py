"""``sandguard enforcer``: its options parse as documented (the running CLI is killed and
restarted for real in tests/integration/enforcer/test_crash.py)."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from sandguard.cli import main
from sandguard.cli.enforcer import _labels


def test_labels_are_keys_or_key_value_pairs() -> None:
    assert _labels(("sandguard.sandbox=1", "team", "empty=")) == {
        "sandguard.sandbox": "1",
        "team": None,
        "empty": "",
    }


def test_a_label_without_a_key_is_refused() -> None:
    with pytest.raises(click.BadParameter, match="KEY or KEY=VALUE"):
        _labels(("=1",))


def test_help_lists_the_options() -> None:
    out = CliRunner().invoke(main, ["enforcer", "--help"])
    assert out.exit_code == 0
    for option in ("--host", "--audit-only", "--require-label", "--claim-unassigned", "--state-dir"):
        assert option in out.output


def test_concurrency_is_bounded() -> None:
    out = CliRunner().invoke(main, ["enforcer", "--concurrency", "0"])
    assert out.exit_code == 2
    assert "--concurrency" in out.output
