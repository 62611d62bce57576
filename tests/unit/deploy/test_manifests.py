"""The deployment files name commands and flags that exist: they cannot drift from the CLI."""

from __future__ import annotations

import shlex
from pathlib import Path

import click
import pytest
import yaml

from sandguard.cli import main

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"


def _parses(argv: list[str]) -> None:
    """Click parses argv for the named subcommand without running it."""
    ctx = click.Context(main)
    command = main.get_command(ctx, argv[0])
    assert command is not None, f"no command {argv[0]!r}"
    command.make_context(argv[0], argv[1:])


def _kubernetes_argvs() -> list[list[str]]:
    out = []
    for doc in yaml.safe_load_all((DEPLOY / "kubernetes" / "sandguard.yaml").read_text()):
        spec = (doc or {}).get("spec", {}).get("template", {}).get("spec", {})
        out += [c["args"] for c in spec.get("containers", [])]
    return out


def _systemd_argvs() -> list[list[str]]:
    out = []
    for unit in sorted((DEPLOY / "systemd").glob("*.service")):
        for line in unit.read_text().splitlines():
            if line.startswith("ExecStart="):
                argv = shlex.split(line.removeprefix("ExecStart=").replace("%i", "9470"))
                out.append(argv[1:])  # drop the sandguard executable
    return out


def _compose_argvs() -> list[list[str]]:
    out = []
    for name in ("compose.yaml", "compose.secure.yaml"):
        services = yaml.safe_load((DEPLOY / name).read_text())["services"]
        out += [s["command"] for s in services.values() if "command" in s and "entrypoint" not in s]
    return out


ARGVS = _kubernetes_argvs() + _systemd_argvs() + _compose_argvs()


@pytest.mark.parametrize("argv", ARGVS, ids=lambda a: " ".join(a[:1]))
def test_deployed_commands_parse(argv: list[str]) -> None:
    _parses(argv)


def test_every_long_running_command_is_deployed() -> None:
    deployed = {a[0] for a in _kubernetes_argvs()} | {a[0] for a in _systemd_argvs()}
    assert deployed >= {"collector", "enforcer", "processor", "sink"}
