"""``sandguard policy validate FILE``: the errors, or the normalised policy and its id.
``sandguard policy backtest``: a policy over the stored history (sandguard.backtest).
``sandguard policy suggest``: a policy learned from an image's clean runs."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import click

from sandguard.cli._reporting import store_options
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
        _refuse_policy(exc)
    click.echo(json.dumps({"policy_id": p.policy_id, "policy": p.model_dump(mode="json")}, indent=2))


def _refuse_policy(exc: PolicyValidationError) -> NoReturn:
    click.echo(f"{exc.source}: invalid", err=True)
    for field, reason in exc.errors:
        click.echo(f"  {field}: {reason}", err=True)
    sys.exit(1)


def _selection(
    since: str, until: str | None, sandbox: str | None, image: str | None, label: str | None
) -> Any:
    from reporting.timespec import parse_since
    from sandguard.backtest import Selection, SelectionError, parse_label
    from schemas import now_ms

    now = now_ms()
    try:
        lo = parse_since(since, now)
        hi = parse_since(until, now) if until else now
        return Selection(lo, hi, sandbox=sandbox, image=image, label=parse_label(label) if label else None)
    except SelectionError as exc:
        raise click.BadParameter(exc.reason, param_hint=f"--{exc.field}") from exc
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since/--until") from exc


def _window_options(fn: Callable[..., object]) -> Callable[..., object]:
    fn = click.option(
        "--until", default=None, help="end of the window (span back from now or ISO); default now"
    )(fn)
    return click.option(
        "--since", default="7d", show_default=True, help="span back from now (24h, 7d) or ISO"
    )(fn)


@policy.command("backtest")
@click.argument("file", type=click.Path(path_type=Path), required=False)
@click.option("--recorded", is_flag=True, help="the policies that were in force (must agree exactly)")
@_window_options
@click.option("--sandbox", default=None, help="one sandbox (container id or prefix)")
@click.option("--image", default=None, help="the sandboxes of one image")
@click.option("--label", default=None, help="the sandboxes with label key=value")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json", "html"]), default="table", show_default=True
)
@click.option("--output", type=click.Path(path_type=Path), default=None, help="write to a file, not stdout")
@store_options
def backtest_cmd(
    *,
    file: Path | None,
    recorded: bool,
    since: str,
    until: str | None,
    sandbox: str | None,
    image: str | None,
    label: str | None,
    fmt: str,
    output: Path | None,
    clickhouse_url: str | None,
    data_dir: Path | None,
) -> None:
    """What FILE's policy would have found and done over the stored history, beside what did."""
    from sandguard.backtest import NoHistoryError, backtest
    from sandguard.backtest.render import render_html, render_text

    if (file is None) == (not recorded):
        raise click.UsageError("give a policy FILE, or --recorded for the policies in force (not both)")
    trial = None
    if file is not None:
        try:
            trial = load_policy(file)
        except PolicyValidationError as exc:
            _refuse_policy(exc)
    sel = _selection(since, until, sandbox, image, label)
    store = _open_store(clickhouse_url, data_dir)
    try:
        result = backtest(store, sel, trial, source=str(file or "recorded"))
    except NoHistoryError as exc:
        click.echo(f"no history: nothing stored for {exc.what} in this window; no backtest", err=True)
        sys.exit(2)
    finally:
        store.close()
    render = {"json": _json_text, "html": render_html, "table": render_text}[fmt]
    _write(render(result), output)


def _json_text(result: dict[str, Any]) -> str:
    return json.dumps(result, indent=2)


def _write(text: str, output: Path | None) -> None:
    if output is None:
        click.echo(text)
        return
    output.write_text(text + "\n", encoding="utf-8")
    click.echo(f"wrote {output}", err=True)


def _open_store(url: str | None, data_dir: Path | None) -> Any:
    from sandguard.cli._reporting import make_store
    from sandguard.logs import configure_logging
    from sandguard.settings import Settings

    settings = Settings()
    configure_logging(fmt=settings.log_format, level="warning")
    return make_store(settings, url, data_dir)


@policy.command("suggest")
@click.option("--image", required=True, help="the image whose runs to learn from")
@_window_options
@click.option(
    "--holdout", type=float, default=0.2, show_default=True, help="share of the latest runs held back"
)
@click.option(
    "--headroom", type=float, default=1.5, show_default=True, help="limits: p99 of run maxima × this"
)
@click.option("--format", "fmt", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True)
@click.option("--output", type=click.Path(path_type=Path), default=None, help="write to a file, not stdout")
@store_options
def suggest_cmd(
    *,
    image: str,
    since: str,
    until: str | None,
    holdout: float,
    headroom: float,
    fmt: str,
    output: Path | None,
    clickhouse_url: str | None,
    data_dir: Path | None,
) -> None:
    """A policy for IMAGE learned from its clean runs, with the evidence in comments and
    its proof: 0 findings over those runs, and what it catches in the held-back ones."""
    from sandguard.backtest import NoHistoryError, SelectionError
    from sandguard.backtest.baseline import describe
    from sandguard.backtest.suggest import suggest
    from sandguard.backtest.suggest_yaml import proof_lines

    sel = _selection(since, until, None, image, None)
    store = _open_store(clickhouse_url, data_dir)
    try:
        s = suggest(store, sel, holdout=holdout, headroom=headroom)
    except SelectionError as exc:
        raise click.BadParameter(exc.reason, param_hint=f"--{exc.field}") from exc
    except NoHistoryError as exc:
        click.echo(f"no history: nothing to learn from for {exc.what} in this window", err=True)
        sys.exit(2)
    finally:
        store.close()
    if fmt == "json":
        doc = {"policy": s.policy.model_dump(mode="json", exclude_none=True), "proof": s.proof,
               "evidence": describe(s.evidence)}  # fmt: skip
        _write(json.dumps(doc, indent=2), output)
    else:
        _write(s.yaml, output)
    for line in proof_lines(s):
        click.echo(line, err=True)
