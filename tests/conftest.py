"""Fixtures shared by every test area. Services are started by the test command
(deploy/local/test.sh); a fixture that finds one missing fails, it never skips."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

KAFKA_BOOTSTRAP = os.environ.get("SANDGUARD_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
BUSYBOX_IMAGE = "sandguard/busybox:1"
PYTHON_IMAGE = "sandguard/python:3"


# Not a missing service: the test command runs as root (README), where these always run;
# as another user the BPF loader cannot attach, and the kernel layer itself reports mode "off".
NEEDS_ROOT = pytest.mark.skipif(os.geteuid() != 0, reason="the kernel layer needs root")


@pytest.fixture(autouse=True)
def _structlog_config_restored() -> Iterator[None]:
    """A test that configures logging (a CLI run in-process sets the level to warning)
    must not change what the next one sees: capture_logs keeps the configured level."""
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    return KAFKA_BOOTSTRAP


@pytest.fixture
def kafka_namespace(kafka_bootstrap: str) -> Iterator[str]:
    """A fresh topic and group prefix per test: tests share the broker, never topics.
    The test's topics are deleted afterwards: a broker that kept every test's ~100
    partitions would carry thousands after a few runs."""
    from sandguard.bus import drop_namespace

    namespace = f"t-{uuid.uuid4().hex[:10]}."
    yield namespace
    asyncio.run(drop_namespace(kafka_bootstrap, namespace))


@pytest.fixture(scope="session")
def docker_client() -> Iterator[object]:
    import docker

    client = docker.from_env(timeout=120)
    client.ping()  # fails loudly when deploy/local/docker.sh did not run
    yield client
    client.close()


@pytest.fixture(scope="session")
def embedded_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The data directory of every embedded pipeline in this test process: chdb opens one
    data directory per process, so the facade, the demo and the reporting tests share it
    (each reporting test in a database of its own)."""
    return tmp_path_factory.mktemp("sandguard-data")


@pytest.fixture(scope="session")
def engine_path(embedded_data_dir: Path) -> Iterator[Path]:
    """The session's embedded ClickHouse engine, kept up by a client of its own so tests
    open and close stores without shutting the engine down each time."""
    import clickhouse_connect

    path = embedded_data_dir / "clickhouse"
    path.mkdir(parents=True, exist_ok=True)
    keeper = clickhouse_connect.get_client(interface="chdb", path=str(path))
    yield path
    keeper.close()


@pytest.fixture
def run_id() -> str:
    """A unique label value so a test cleans up exactly what it made."""
    return uuid.uuid4().hex[:12]


class PrivateKafka:
    """A broker of the test's own, for tests that stop and restart Kafka (the shared one
    on 9092 serves every other test and must never be stopped)."""

    def __init__(self, port: int, controller_port: int, state: str) -> None:
        self.port = port
        self.bootstrap = f"127.0.0.1:{port}"
        self._env = {
            **os.environ,
            "SANDGUARD_KAFKA_PORT": str(port),
            "SANDGUARD_KAFKA_CONTROLLER_PORT": str(controller_port),
            "SANDGUARD_STATE": state,
        }

    def _run(self, verb: str) -> None:
        import subprocess
        from pathlib import Path

        script = Path(__file__).resolve().parent.parent / "deploy" / "local" / "kafka.sh"
        subprocess.run([str(script), verb], env=self._env, check=True, timeout=180)

    def start(self) -> None:
        """A fresh broker with an empty data directory."""
        self._run("start")

    def stop(self) -> None:
        """A clean shutdown; the data stays for resume()."""
        self._run("stop")

    def resume(self) -> None:
        """The same broker again, with the data it had when stopped."""
        self._run("resume")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def private_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateKafka]:
    broker = PrivateKafka(_free_port(), _free_port(), str(tmp_path_factory.mktemp("kafka-state")))
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
