"""The README's main job: the demo scenario, end to end on the embedded default."""

from __future__ import annotations

from pathlib import Path

from sandguard.demo import REFUSED_COMMANDS, REFUSED_PATHS, run_demo


async def test_demo_scenario(embedded_data_dir: Path) -> None:
    lines: list[str] = []
    summary = await run_demo(data_dir=embedded_data_dir, say=lines.append)
    assert summary["worker_output"] == '{"mean": 499.5}'
    assert summary["refused_commands"] == len(REFUSED_COMMANDS)
    assert summary["refused_paths"] == len(REFUSED_PATHS)
    # Runtime detection: the miner and the reverse shell are terminated by the pipeline;
    # the worker by escalation of its 10 refused operations over the threshold of 3.
    assert {"miner", "reverse-shell", "worker"} <= set(summary["terminated"])
    assert summary["violations"]["forkbomb"] >= 1
    assert Path(summary["html_report"]).read_text().startswith("<!DOCTYPE html>")
    assert any("Actions taken" in line for line in lines)
