"""``sandguard sandbox gc``: reclaim what managers that died left on this host's engine."""

from __future__ import annotations

import json
import socket
from dataclasses import asdict
from pathlib import Path

import click
import docker

from sandbox.gc import Reclaimer
from sandbox.lease import lease_dir
from sandguard.settings import Settings


@click.group()
def sandbox() -> None:
    """Sandboxes on this host's Docker engine."""


@sandbox.command("gc")
@click.option(
    "--lease-dir", "lease_dir_option", default=None, help="managers' leases (default: $SANDGUARD_LEASE_DIR)"
)
@click.option("--host", default=None, help="the sandguard.host label of this host (default: the hostname)")
@click.option(
    "--workspace-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="managers' workspace loop images [settings: workspace_dir]",
)
def gc(lease_dir_option: str | None, host: str | None, workspace_dir: Path | None) -> None:
    """Kills sandboxes past their lifetime and removes the containers, volumes and
    networks whose manager holds no live lease, then the workspace loop images of
    managers whose process is gone (never one still mounted). Only resources made under
    a lease (label sandguard.lease) are touched. Prints what was reclaimed as JSON."""
    client = docker.from_env()
    root = workspace_dir or Settings().workspace_dir
    try:
        reclaimer = Reclaimer(
            client.api, lease_dir(lease_dir_option), host or socket.gethostname(), workspace_root=root
        )
        click.echo(json.dumps(asdict(reclaimer.run()), indent=2))
    finally:
        client.close()
