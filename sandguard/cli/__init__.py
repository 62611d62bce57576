"""The ``sandguard`` command. Each subcommand lives in its own module and is imported
only when used, so one component's dependencies never slow down another's start."""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

import click

# name -> "module:attribute" of a click command
COMMANDS: dict[str, str] = {
    "policy": "sandguard.cli.policy:policy",
    "demo": "sandguard.cli.demo:demo",
    "run": "sandguard.cli.run:run",
    "collector": "sandguard.cli.collector:collector",
    "processor": "sandguard.cli.processor:processor",
    "enforcer": "sandguard.cli.enforcer:enforcer",
    "sink": "sandguard.cli.sink:sink",
    "replay": "sandguard.cli.replay:replay",
    "report": "sandguard.cli.report:report",
    "topics": "sandguard.cli.topics:topics",
    "sandbox": "sandguard.cli.sandbox:sandbox",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(n for n, target in COMMANDS.items() if _available(target))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None or not _available(target):
            return None
        module, attr = target.split(":")
        command: Any = getattr(importlib.import_module(module), attr)
        return command  # type: ignore[no-any-return]


def _available(target: str) -> bool:
    return importlib.util.find_spec(target.split(":", maxsplit=1)[0]) is not None


@click.group(cls=LazyGroup)
@click.version_option(package_name="sandguard")
def main() -> None:
    """sandguard: hardened sandboxes for untrusted code, watched, judged and enforced."""
