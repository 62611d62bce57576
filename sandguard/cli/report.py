"""``sandguard report``: security reports from the history, as tables, JSON or an HTML page."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
import orjson

from reporting.compliance import compliance_report, host_security
from reporting.exceptions import UnknownSandboxError
from reporting.html import render_html
from reporting.render_text import render_compliance, render_fleet, render_sandbox
from reporting.reports import HistoryReports
from reporting.store import ClickHouseStore
from reporting.timespec import parse_since
from sandguard.cli._reporting import make_store, store_options
from sandguard.logs import configure_logging
from sandguard.settings import Settings
from schemas import now_ms


@click.command()
@store_options
@click.option("--sandbox", "sandbox_id", default=None, help="a sandbox (container id); default: the fleet")
@click.option(
    "--since", default="24h", show_default=True, help="span back from now (90m, 24h, 7d) or ISO time"
)
@click.option("--json", "as_json", is_flag=True, help="machine-readable JSON on stdout")
@click.option("--html", "html_file", type=click.Path(path_type=Path), default=None, help="write an HTML page")
@click.option("--compliance", is_flag=True, help="check live sandboxes against the CIS Docker Benchmark")
def report(
    *,
    clickhouse_url: str | None,
    data_dir: Path | None,
    sandbox_id: str | None,
    since: str,
    as_json: bool,
    html_file: Path | None,
    compliance: bool,
) -> None:
    """Security report of one sandbox, or of the whole fleet, over the --since window."""
    settings = Settings()
    configure_logging(fmt=settings.log_format, level="warning")
    now = now_ms()
    try:
        since_ms = parse_since(since, now)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from exc
    store = make_store(settings, clickhouse_url, data_dir)
    try:
        result = _build(store, sandbox_id, since_ms, now, compliance)
    except UnknownSandboxError as exc:
        raise click.ClickException(f"{exc} (is the sink running, and the id complete?)") from exc
    finally:
        store.close()
    _emit(result, as_json=as_json, html_file=html_file)


def _build(
    store: ClickHouseStore, sandbox_id: str | None, since_ms: int, now: int, compliance: bool
) -> dict[str, Any]:
    reports = HistoryReports(store)
    out: dict[str, Any] = {"fleet": reports.fleet_report(since_ms=since_ms, now=now)}
    if sandbox_id:
        out["sandbox"] = reports.sandbox_report(sandbox_id, since_ms=since_ms, now=now, require_known=True)
    if compliance:
        ids = [sandbox_id] if sandbox_id else _active_sandboxes(store)
        out["compliance"] = inspect_compliance(ids)
    return out


def _active_sandboxes(store: ClickHouseStore) -> list[str]:
    return [str(r[0]) for r in store.query("SELECT container_id FROM sandbox_state WHERE NOT is_destroyed")]


def inspect_compliance(container_ids: list[str]) -> dict[str, Any]:
    """Inspects the containers on this host's Docker engine (those gone are listed as such)."""
    import docker
    from docker.errors import NotFound

    client = docker.from_env()
    try:
        host = host_security(client.info())
        inspects, missing = [], []
        for cid in container_ids:
            try:
                inspects.append(client.api.inspect_container(cid))
            except NotFound:
                missing.append(cid)
        result = compliance_report(inspects, host)
        result["not_found"] = missing
        return result
    finally:
        client.close()


def _emit(result: dict[str, Any], *, as_json: bool, html_file: Path | None) -> None:
    sandbox, fleet, comp = result.get("sandbox"), result["fleet"], result.get("compliance")
    if html_file is not None:
        page = render_html(sandbox=sandbox, fleet=None if sandbox else fleet, compliance=comp)
        html_file.write_text(page, encoding="utf-8")
        click.echo(f"wrote {html_file}", err=True)
    if as_json:
        sys.stdout.buffer.write(orjson.dumps(result, option=orjson.OPT_INDENT_2) + b"\n")
        return
    if html_file is not None:
        return
    click.echo(render_sandbox(sandbox) if sandbox else render_fleet(fleet))
    if comp is not None:
        click.echo(render_compliance(comp))
