"""A suggestion as policy YAML whose comments give the evidence for each learned value."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from sandguard.backtest.suggest import Suggestion

LEARNED = ("resource_limits", "allowed_commands", "blocked_commands", "baseline", "name")
_LIMIT_ORDER = ("memory_mb", "cpu_percent", "max_processes", "max_open_files", "max_network_connections")


def proof_lines(s: Suggestion) -> list[str]:
    p = s.proof
    lines = [f"proof: over the {p['clean_runs']} clean runs it learned from: {p['clean_findings']} findings"]
    if p["clean_findings"]:
        lines[-1] += f" ({', '.join(p['clean_rules'])})"
    if not p["held_back_runs"]:
        lines.append("proof: no run held back (a single run)")
        return lines
    lines.append(
        f"proof: over the {p['held_back_runs']} latest runs held back: caught {p['caught']} of "
        f"{p['held_back_misbehaving']} misbehaving runs, flagged {p['flagged_clean']} clean ones"
        + (f" (rules: {', '.join(p['held_back_rules'])})" if p["held_back_rules"] else "")
    )
    if p["missed"]:
        lines.append(f"proof: missed {', '.join(p['missed'])}")
    return lines


def render_yaml(s: Suggestion, headroom: float) -> str:
    d = s.policy.model_dump(mode="json", exclude_none=True)
    head = [
        f"# sandguard policy suggested for image {s.image}",
        f"# learned from {len(s.learned_from)} clean runs (runs with no finding), {s.policy.baseline.learned}"
        if s.policy.baseline
        else "",
        *(f"# {line}" for line in proof_lines(s)),
        f"name: {_scalar(d['name'])}",
        "resource_limits:",
    ]
    for key in _LIMIT_ORDER:
        head += [f"  # {s.limits[key].note(headroom)}", f"  {key}: {_scalar(d['resource_limits'][key])}"]
    kept = {k: v for k, v in d["resource_limits"].items() if k not in _LIMIT_ORDER}
    head += [f"  {k}: {_scalar(v)}  # kept from the policy in force" for k, v in kept.items()]
    head += _programs(s, d)
    rest = {k: v for k, v in d.items() if k not in LEARNED}
    tail = [
        "# not learned: kept from the policy the latest clean run ran under",
        yaml.safe_dump(rest, sort_keys=True),
    ]
    return "\n".join(line for line in head if line) + "\n" + "\n".join(tail)


def _programs(s: Suggestion, d: dict[str, Any]) -> list[str]:
    n = len(s.learned_from)
    lines = [
        "# every program the clean runs executed (process snapshots and audited execs): runs that ran it"
    ]
    lines.append("allowed_commands:")
    lines += [f"  - {_scalar(p)}  # {s.evidence.programs[p]} of {n} runs" for p in d["allowed_commands"]]
    removed = f"; removed because clean runs used them: {', '.join(s.removed_from_blocked)}"
    lines.append(f"# the policy in force's blocked commands{removed if s.removed_from_blocked else ''}")
    lines.append(f"blocked_commands: {_scalar(d['blocked_commands'])}")
    b = d["baseline"]
    lines += [
        "# a program outside this baseline raises process.new_program, explained with it (audit: never acts)",
        "baseline:",
        f"  image: {_scalar(b['image'])}",
        f"  runs: {b['runs']}",
        f"  learned: {_scalar(b['learned'])}",
        f"  mode: {b['mode']}",
        f"  programs: {_scalar(b['programs'])}",
        "  # the executables they ran: a process is judged by its file (a known name on a new file is new)",
        f"  paths: {_scalar(b.get('paths', []))}",
        "# egress: no destinations or ports in the history yet (only socket counts); network_policy and",
        "# allowed_ports below are the policy in force's",
    ]
    return lines


def _scalar(v: Any) -> str:
    """One YAML flow value (JSON is YAML)."""
    return json.dumps(v)
