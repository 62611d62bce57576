"""``sandguard policy validate FILE``: the errors, or the normalised policy and its id."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from schemas import PolicyValidationError, load_policy


@click.group()
def policy() -> None:
    """Work with security policy files (YAML or JSON)."""


@policy.command("validate")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--host-cpus", type=int, default=None, help="validate cpu_percent for this many CPUs")
def validate(file: Path, host_cpus: int | None) -> None:
    """Prints every error with its field (exit 1), or the normalised policy as JSON."""
    try:
        p = load_policy(file, host_cpus=host_cpus)
    except PolicyValidationError as exc:
        click.echo(f"{exc.source}: invalid", err=True)
        for field, reason in exc.errors:
            click.echo(f"  {field}: {reason}", err=True)
        sys.exit(1)
    click.echo(json.dumps({"policy_id": p.policy_id, "policy": p.model_dump(mode="json")}, indent=2))
