"""The suggestion round trip on the recorded history: learned from the benign runs of the
image, it finds nothing on them, and catches the misbehaving runs held back."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner

from reporting.store import ClickHouseStore
from sandguard.backtest import Selection
from sandguard.backtest.suggest import suggest
from sandguard.cli import main
from schemas import parse_policy
from tests.integration.backtest.recorded import PYTHON, Recorded

# The benign runs were created first, the four misbehaving ones last: half is held back.
HOLDOUT = 0.5


def test_the_suggestion_is_clean_on_its_runs_and_catches_the_held_back_ones(
    history: ClickHouseStore, recorded: Recorded
) -> None:
    s = suggest(history, Selection(recorded.since, recorded.until, image=PYTHON), holdout=HOLDOUT)
    missing = sorted(set(recorded.benign) - set(s.learned_from))
    found = history.query(
        "SELECT container_id, rule_id, message FROM violations FINAL"
        " WHERE container_id IN {ids:Array(String)}",
        {"ids": missing},
    )
    assert sorted(s.learned_from) == sorted(recorded.benign), found
    assert sorted(s.held_back) == sorted(recorded.bad)
    assert s.proof["clean_findings"] == 0, s.proof
    assert (s.proof["held_back_misbehaving"], s.proof["caught"], s.proof["flagged_clean"]) == (4, 4, 0), (
        s.proof
    )
    p = s.policy
    assert "python3" in p.allowed_commands and "kill" in p.blocked_commands
    assert p.baseline is not None and p.baseline.runs == 4 and p.baseline.programs == p.allowed_commands
    # Executables seen in the snapshots (short execs come and go between two samples: their names
    # come from the audited command lines).
    assert p.baseline.paths and all(path.startswith("/") for path in p.baseline.paths), p.baseline.paths
    assert p.resource_limits.memory_mb < 128  # the benign runs used far less than the policy in force allowed
    assert parse_policy(s.yaml) == p  # the YAML is the policy, comments aside
    assert (
        "p99 of run maxima" in s.yaml and "of 4 runs" in s.yaml and "proof: over the 4 clean runs" in s.yaml
    )


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


def test_the_cli_writes_the_yaml_and_prints_the_proof(
    embedded_data_dir: Path, history: ClickHouseStore, recorded: Recorded, tmp_path: Path
) -> None:
    out = tmp_path / "suggested.yaml"
    window = ["--since", _iso(recorded.since), "--until", _iso(recorded.until)]
    args = ["policy", "suggest", "--image", PYTHON, *window, "--holdout", str(HOLDOUT), "--output", str(out),
            "--data-dir", str(embedded_data_dir)]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "0 findings" in result.stderr and "caught 4 of 4 misbehaving runs" in result.stderr
    policy = parse_policy(out.read_text())
    assert policy.baseline is not None and policy.baseline.image == PYTHON


def test_an_image_without_runs_has_nothing_to_learn_from(embedded_data_dir: Path, recorded: Recorded) -> None:
    args = ["policy", "suggest", "--image", "no/such:image", "--since", _iso(recorded.since),
            "--data-dir", str(embedded_data_dir)]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and "no history" in result.stderr
    holdout = [
        "policy",
        "suggest",
        "--image",
        PYTHON,
        "--holdout",
        "1.5",
        "--data-dir",
        str(embedded_data_dir),
    ]
    bad = CliRunner().invoke(main, holdout)
    assert bad.exit_code == 2 and "--holdout" in bad.stderr
