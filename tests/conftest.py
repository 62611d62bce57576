"""Fixtures shared by every test area. Services are started by the test command
(deploy/local/test.sh); a fixture that finds one missing fails, it never skips."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

KAFKA_BOOTSTRAP = os.environ.get("SANDGUARD_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
BUSYBOX_IMAGE = "sandguard/busybox:1"
PYTHON_IMAGE = "sandguard/python:3"


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    return KAFKA_BOOTSTRAP


@pytest.fixture
def kafka_namespace() -> str:
    """A fresh topic and group prefix per test: tests share the broker, never topics."""
    return f"t-{uuid.uuid4().hex[:10]}."


@pytest.fixture(scope="session")
def docker_client() -> Iterator[object]:
    import docker

    client = docker.from_env(timeout=120)
    client.ping()  # fails loudly when deploy/local/docker.sh did not run
    yield client
    client.close()


@pytest.fixture
def run_id() -> str:
    """A unique label value so a test cleans up exactly what it made."""
    return uuid.uuid4().hex[:12]
