"""``sandguard policy backtest`` on the recorded history: tables, JSON, HTML, and refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from reporting.store import ClickHouseStore
from sandguard.cli import main
from tests.integration.backtest.recorded import LABEL, Recorded


def _run(data_dir: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["policy", "backtest", *args, "--data-dir", str(data_dir)])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def _window(rec: Recorded) -> list[str]:
    iso = [f"{ms / 1000:.3f}" for ms in (rec.since, rec.until)]
    from datetime import UTC, datetime

    since, until = (datetime.fromtimestamp(float(s), UTC).isoformat() for s in iso)
    return ["--since", since, "--until", until, "--label", f"{LABEL}={rec.run_id}"]


def test_recorded_prints_exact_agreement_and_the_tables(
    embedded_data_dir: Path, history: ClickHouseStore, recorded: Recorded
) -> None:
    code, out, _ = _run(embedded_data_dir, "--recorded", *_window(recorded))
    assert code == 0, out
    assert "agreement with the stored outputs: 1.0000" in out and ", exact)" in out
    assert "Per sandbox and rule" in out and "command.denied" in out
    assert "acted (enforcer)" in out and "1 terminate applied" in out  # what the enforcer did, beside


def test_a_stricter_policy_shows_new_findings_and_terminations_in_json_and_html(
    embedded_data_dir: Path, history: ClickHouseStore, recorded: Recorded, tmp_path: Path
) -> None:
    strict = tmp_path / "strict.yaml"
    strict.write_text(
        "name: strict\nresource_limits: {memory_mb: 128, cpu_percent: 20, max_processes: 16}\n"
        "blocked_commands: [rm, sudo, kill, ls]\nviolation_threshold: 1\nauto_terminate_on_violation: true\n"
        "detection: {window_seconds: 10, min_samples: 2}\n"
    )
    code, out, _ = _run(embedded_data_dir, str(strict), *_window(recorded), "--format", "json")
    assert code == 0
    report = json.loads(out)
    totals = report["totals"]
    assert report["policy"]["name"] == "strict"
    assert totals["backtest_terminated"] > totals["stored_terminated"]
    assert totals["newly_terminated"]
    page = tmp_path / "bt.html"
    code, _, err = _run(
        embedded_data_dir, str(strict), *_window(recorded), "--format", "html", "--output", str(page)
    )
    assert code == 0 and "wrote" in err
    html = page.read_text()
    assert "Backtest: strict" in html and "terminated" in html and "<script>" in html


def test_a_policy_file_with_errors_is_refused_with_field_and_reason(
    embedded_data_dir: Path, recorded: Recorded, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("resource_limits: {memory_mb: 1}\nmode: sometimes\nimmediate_rules: [no.such_rule]\n")
    code, out, err = _run(embedded_data_dir, str(bad), *_window(recorded))
    assert code == 1 and out == ""
    assert "resource_limits.memory_mb:" in err and "mode:" in err and "immediate_rules:" in err


def test_a_window_without_history_says_so(embedded_data_dir: Path, recorded: Recorded) -> None:
    code, out, err = _run(embedded_data_dir, "--recorded", "--since", "2020-01-01", "--until", "2020-01-02")
    assert code == 2 and "no history" in err and "0 findings" not in out + err
    code, _, err = _run(embedded_data_dir, "--recorded", "--label", f"{LABEL}=never-used")
    assert code == 2 and f"label {LABEL}=never-used" in err


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (["--recorded", "--label", "no-equals-sign"], "--label"),
        (["--recorded", "--image", "x", "--sandbox", "y"], "--sandbox"),
        (["--recorded", "--since", "yesterday-ish"], "--since"),
        (["--recorded", "--since", "1h", "--until", "2h"], "--until"),
    ],
)
def test_bad_selections_are_refused(embedded_data_dir: Path, args: list[str], hint: str) -> None:
    code, _, err = _run(embedded_data_dir, *args)
    assert code == 2 and hint in err
