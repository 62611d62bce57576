"""The local real parts the test command starts: a Docker engine, the images, a broker."""

from __future__ import annotations

import asyncio
import uuid

import docker

from sandguard.bus import KafkaBus
from tests.conftest import BUSYBOX_IMAGE, PYTHON_IMAGE, PrivateKafka


def test_images_are_built_locally(docker_client: docker.DockerClient) -> None:
    for ref in (BUSYBOX_IMAGE, PYTHON_IMAGE):
        assert docker_client.images.get(ref).id.startswith("sha256:")
    out = docker_client.containers.run(
        PYTHON_IMAGE, ["python3", "-c", "import ssl, sqlite3; print(6*7)"], remove=True
    )
    assert out.strip() == b"42"


async def _roundtrip(bootstrap: str, namespace: str, n: int) -> list[bytes | None]:
    bus = KafkaBus(bootstrap, namespace=namespace, partitions=2)
    await bus.start()
    try:
        consumer = await bus.consumer(["sandguard.audit"], group="g")
        for i in range(n):
            await bus.publish("sandguard.audit", f"c{i % 3}", str(i).encode())
        await bus.flush()
        got: list[bytes | None] = []
        for _ in range(40):
            got += [r.value for r in await consumer.getmany(timeout_ms=500)]
            if len(got) >= n:
                break
        await consumer.commit()
        return got
    finally:
        await bus.stop()


def test_private_broker_keeps_data_across_restart(private_kafka: PrivateKafka) -> None:
    ns = f"t-{uuid.uuid4().hex[:8]}."
    first = asyncio.run(_roundtrip(private_kafka.bootstrap, ns, 10))
    assert sorted(first, key=lambda v: int(v or b"0")) == [str(i).encode() for i in range(10)]
    private_kafka.stop()
    private_kafka.resume()
    # The group's committed offsets survived: only the new records come back.
    again = asyncio.run(_roundtrip(private_kafka.bootstrap, ns, 3))
    assert sorted(again, key=lambda v: int(v or b"0")) == [b"0", b"1", b"2"]
