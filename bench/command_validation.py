"""How long command analysis takes: in validation, and in the processors' runtime rules.

check_command runs on every exec, so its cost is compared side by side, in one run, with
bashlex.parse alone (the floor: what parsing costs before any analysis), cold (the
analysis cache cleared before each call) and warm (a repeated command).

``runtime``: the processors judge process listings (1 Hz per sandbox) and exec command
lines with the same analyser (common.commandline). Their engine throughput over such
events is measured three ways in one run: ``before``, the shlex heuristic the processors
had (loaded from git at ``--before-rev``, the commit before the change; process argv were
not analysed then), ``after`` (the analyser, its bounded cache warm as in a long run) and
``after_uncached`` (every command line new), with the ratios to ``before``.

    .venv/bin/python -m bench.command_validation --json
"""

from __future__ import annotations

import time
from collections.abc import Callable

import bashlex

from common.commandline import clear_caches
from sandbox.validation import check_command
from schemas import SecurityPolicy

try:
    from bench import cli, command_runtime
    from bench.stats import percentile
except ModuleNotFoundError:  # run as a script (python bench/x.py): bench/ is on the path
    import cli  # type: ignore[import-not-found,no-redef]
    import command_runtime  # type: ignore[import-not-found,no-redef]
    from stats import percentile  # type: ignore[import-not-found,no-redef]
from tests.unit.sandbox.validation.test_commands import ARGV_CASES, CASES

# 5 rounds × ~230 commands ≈ 1,150 timed calls per measure: seconds, not minutes.
DEFAULT_ROUNDS = 5


Command = str | list[str]


def _nothing() -> None:
    return None


def _time_each(
    items: list[Command], call: Callable[[Command], object], before: Callable[[], None]
) -> list[float]:
    samples = []
    for item in items:
        before()
        start = time.perf_counter_ns()
        call(item)
        samples.append((time.perf_counter_ns() - start) / 1000)
    return samples


def _parse_or_fail(command: Command) -> object:
    try:
        return bashlex.parse(command)
    except Exception as exc:  # the floor counts failed parses too, as check_command does
        return exc


def _summary(samples: list[float]) -> dict[str, float]:
    return {
        "p50_us": round(percentile(samples, 50), 1),
        "p99_us": round(percentile(samples, 99), 1),
        "max_us": round(max(samples), 1),
    }


def run(rounds: int) -> dict[str, object]:
    policy = SecurityPolicy()
    lines: list[Command] = [command for _, command, _ in CASES]
    corpus: list[Command] = [*lines, *(argv for argv, _ in ARGV_CASES)]
    parseable: list[Command] = [
        line for line in lines if isinstance(line, str) and line.strip() and "\0" not in line
    ]

    def check(command: Command) -> object:
        return check_command(command, policy)

    floor: list[float] = []
    cold: list[float] = []
    warm: list[float] = []
    for _ in range(rounds):
        floor += _time_each(parseable, _parse_or_fail, _nothing)
        cold += _time_each(corpus, check, clear_caches)
        _time_each(corpus, check, _nothing)  # fills the cache
        warm += _time_each(corpus, check, _nothing)
    parse_only, cold_summary = _summary(floor), _summary(cold)
    return {
        "commands": len(corpus),
        "rounds": rounds,
        "bashlex_parse_only": parse_only,
        "check_command_cold": cold_summary,
        "check_command_cached": _summary(warm),
        "cold_over_parse_p50": round(cold_summary["p50_us"] / parse_only["p50_us"], 2),
    }


def main() -> None:
    parser = cli.parser(__doc__)
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS)
    parser.add_argument("--before-rev", default=command_runtime.BEFORE_REV, help="git rev of the heuristic")
    args = parser.parse_args()
    result = run(max(1, min(args.rounds, 100)))
    result["runtime"] = command_runtime.run(args.before_rev)
    cli.emit(result, args.json)


if __name__ == "__main__":
    main()
