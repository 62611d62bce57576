"""The sink, replay and report commands, run as a user runs them, on real Kafka and the real engine."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from click.testing import CliRunner

from reporting.store import ClickHouseStore
from sandguard.bus import KafkaBus
from sandguard.cli.replay import replay
from sandguard.cli.report import report
from tests.integration.reporting.conftest import publish
from tests.integration.reporting.fleet import BOMB, Fleet

# Bounded waits for a separate process (never asserted as timings).
SINK_WAIT_S = 90.0
SANDGUARD = str(Path(sys.executable).parent / "sandguard")


def _publish(bootstrap: str, ns: str, fleet: Fleet) -> None:
    async def go() -> None:
        bus = KafkaBus(bootstrap, namespace=ns, partitions=2)
        await bus.start()
        try:
            await publish(bus, fleet.events)
        finally:
            await bus.stop()

    asyncio.run(go())


def _env(bootstrap: str, ns: str) -> dict[str, str]:
    return {
        "SANDGUARD_KAFKA_BOOTSTRAP": bootstrap,
        "SANDGUARD_KAFKA_NAMESPACE": ns,
        "SANDGUARD_LOG_LEVEL": "warning",
    }


def _count(engine: Path, table: str) -> int:
    with ClickHouseStore(path=engine) as store:  # the commands' database, "sandguard"
        return int(store.query(f"SELECT count() FROM {table} FINAL")[0][0])


def test_replay_then_report_in_the_terminal_json_and_html(
    kafka_bootstrap: str, kafka_namespace: str, fleet: Fleet, engine_path: Path, tmp_path: Path
) -> None:
    with ClickHouseStore(path=engine_path, migrate=False) as store:
        store.command("DROP DATABASE IF EXISTS sandguard SYNC")
    _publish(kafka_bootstrap, kafka_namespace, fleet)
    runner = CliRunner()
    env = _env(kafka_bootstrap, kafka_namespace)
    data_dir = str(engine_path.parent)  # the commands open <data-dir>/clickhouse: the session's engine
    out = runner.invoke(replay, ["--data-dir", data_dir, "--idle-seconds", "1"], env=env)
    assert out.exit_code == 0, out.output
    assert f"replayed {len(fleet.events)} records" in out.output
    assert _count(engine_path, "metrics") == fleet.counts["metrics"]

    text = runner.invoke(report, ["--data-dir", data_dir, "--since", "3h"], env=env)
    assert text.exit_code == 0, text.output
    assert "Top offending sandboxes" in text.output and BOMB in text.output

    js = runner.invoke(report, ["--data-dir", data_dir, "--sandbox", BOMB, "--json"], env=env)
    doc = json.loads(js.stdout)
    assert doc["sandbox"]["total_violations"] == 3 and doc["fleet"]["sandboxes"]["total"] == 3

    unknown = runner.invoke(report, ["--data-dir", data_dir, "--sandbox", "c-nope"], env=env)
    assert unknown.exit_code == 1 and "no history for sandbox c-nope" in unknown.output

    page = tmp_path / "r.html"
    html = runner.invoke(report, ["--data-dir", data_dir, "--sandbox", BOMB, "--html", str(page)], env=env)
    assert html.exit_code == 0 and "sandguard security report" in page.read_text()


def test_a_bad_since_is_a_usage_error(engine_path: Path) -> None:
    out = CliRunner().invoke(report, ["--data-dir", str(engine_path.parent), "--since", "yesterday"])
    assert out.exit_code == 2 and "90m, 24h, 7d" in out.output


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _records_stored(port: int) -> float:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
            text = r.read().decode()
    except OSError:
        return 0.0
    return sum(
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith("sandguard_sink_records_total")
    )


def test_the_sink_command_stores_everything_and_stops_cleanly_on_sigterm(
    kafka_bootstrap: str, kafka_namespace: str, fleet: Fleet, tmp_path: Path
) -> None:
    _publish(kafka_bootstrap, kafka_namespace, fleet)
    port = _free_port()
    env = {**os.environ, **_env(kafka_bootstrap, kafka_namespace), "SANDGUARD_METRICS_PORT": str(port)}
    proc = subprocess.Popen(
        [SANDGUARD, "sink", "--data-dir", str(tmp_path), "--batch-seconds", "0.2"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + SINK_WAIT_S
        while (
            _records_stored(port) < len(fleet.events) and time.monotonic() < deadline and proc.poll() is None
        ):
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=60)[0].decode()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, output
    assert _counts_in_another_process(tmp_path, list(fleet.counts)) == fleet.counts


_COUNT_SCRIPT = """
import json, sys
from reporting.store import ClickHouseStore
with ClickHouseStore(path=sys.argv[1]) as s:
    print(json.dumps({t: s.query(f"SELECT count() FROM {t} FINAL")[0][0] for t in sys.argv[2:]}))
"""


def _counts_in_another_process(data_dir: Path, tables: list[str]) -> dict[str, int]:
    """The sink's engine is read by a process of its own (this one holds the session's engine)."""
    out = subprocess.run(
        [sys.executable, "-c", _COUNT_SCRIPT, str(data_dir / "clickhouse"), *tables],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    last = [line for line in out.stdout.splitlines() if line.startswith("{")][-1]
    return dict(json.loads(last))
