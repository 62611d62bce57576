"""``sandguard demo``: the live scenario of sandguard.demo on the embedded default."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import click

from sandguard.logs import configure_logging
from sandguard.settings import Settings


@click.command()
@click.option("--data-dir", type=click.Path(path_type=Path), default=None, help="embedded history directory")
@click.option("--json", "as_json", is_flag=True, help="print only the JSON summary")
@click.option("--log-level", default="warning", help="component logs on stderr")
def demo(data_dir: Path | None, as_json: bool, log_level: str) -> None:
    """Hardened sandboxes watched, judged and enforced in one process, with a report."""
    from sandguard.demo import run_demo

    configure_logging(level=log_level)
    directory = data_dir or Settings().data_dir / "demo"
    summary = asyncio.run(run_demo(data_dir=directory, say=(lambda _m: None) if as_json else click.echo))
    click.echo(json.dumps(summary, indent=None if as_json else 2))
